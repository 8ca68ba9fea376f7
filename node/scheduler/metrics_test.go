package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestSchedulerMetrics: binds count as scheduled attempts and as one batch
// per pass; a pod no node can take counts as unschedulable and is shown
// pending in the unschedulable queue.
func TestSchedulerMetrics(t *testing.T) {
	e := newEnv(t)
	e.readyNode("node-a", "1", "1Gi")
	reg := prometheus.NewPedanticRegistry()
	e.pod("fits-0", "100m", "64Mi")
	e.pod("fits-1", "100m", "64Mi")
	e.pod("too-big", "8", "64Mi")
	e.start(WithResync(time.Second), WithSeed(1), WithMetrics(reg))
	e.Eventually(10*time.Second, func() error {
		for _, n := range []string{"fits-0", "fits-1"} {
			if err := e.bound(n); err != nil {
				return err
			}
		}
		return nil
	})
	e.Eventually(10*time.Second, func() error {
		got := gathered(t, reg)
		want := map[string]float64{
			`scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}`:                   2,
			`scheduler_scheduling_attempt_duration_seconds_count{profile="default-scheduler",result="scheduled"}`: 2,
			`scheduler_pending_pods{queue="unschedulable"}`:                                                       1,
			`scheduler_pending_pods{queue="active"}`:                                                              0,
			`shoal_scheduler_pass_binds_sum{}`:                                                                    2,
		}
		// The pod that fits nowhere may be retried when the cluster
		// changes (the other binds), so it has at least one attempt.
		if k := `scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}`; got[k] < 1 {
			return fmt.Errorf("%s: expected at least 1, seen %v", k, got[k])
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s: expected %v, seen %v (all: %v)", k, v, got[k], got)
			}
		}
		return nil
	})
	// A scheduler built again on the same registry (leadership regained)
	// carries on the counters instead of failing to register.
	again := New(e.deps, WithMetrics(reg))
	again.stats.attempt(resultError, time.Now())
	if got := gathered(t, reg)[`scheduler_schedule_attempts_total{profile="default-scheduler",result="error"}`]; got != 1 {
		t.Errorf("error attempts after re-registration: expected 1, seen %v", got)
	}
}

// gathered flattens reg's samples to `name{l="v",...}` -> value; histograms
// give their _count and _sum.
func gathered(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			ls := ""
			for i, l := range m.Label {
				if i > 0 {
					ls += ","
				}
				ls += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				out[mf.GetName()+"_count{"+ls+"}"] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum{"+ls+"}"] = m.GetHistogram().GetSampleSum()
			default:
				out[mf.GetName()+"{"+ls+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return out
}
