package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/node/metrics"
)

// Attempt results, as kube-scheduler labels them.
const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

// schedulerMetrics are kube-scheduler's figures that apply here, plus the
// size of the batches of binds a pass hands to the workers. Without a
// registerer they count for nobody, so callers never check.
type schedulerMetrics struct {
	profile      string
	attempts     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	pending      *prometheus.GaugeVec
	bindsPerPass prometheus.Histogram
}

func newSchedulerMetrics(reg prometheus.Registerer, profile string) *schedulerMetrics {
	return &schedulerMetrics{
		profile: profile,
		attempts: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means a bind failed.",
		}, []string{"result", "profile"})),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_scheduling_attempt_duration_seconds",
			Help:    "Scheduling attempt latency in seconds (scheduling algorithm + binding).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"result", "profile"})),
		pending: metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scheduler_pending_pods",
			Help: "Number of pending pods, by the queue type. 'active' means pods due in the current pass; 'backoff' pods whose bind failed and that wait out a back-off; 'unschedulable' pods no node could take, waiting for a change.",
		}, []string{"queue"})),
		bindsPerPass: metrics.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shoal_scheduler_pass_binds",
			Help:    "Binds one scheduling pass handed to the workers at once (passes that bound nothing are left out).",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000},
		})),
	}
}

// attempt records one scheduling attempt that began at start.
func (m *schedulerMetrics) attempt(result string, start time.Time) {
	m.attempts.WithLabelValues(result, m.profile).Inc()
	m.duration.WithLabelValues(result, m.profile).Observe(time.Since(start).Seconds())
}

// setPending reports the pending pods by queue.
func (m *schedulerMetrics) setPending(active, backoff, unschedulable int) {
	m.pending.WithLabelValues("active").Set(float64(active))
	m.pending.WithLabelValues("backoff").Set(float64(backoff))
	m.pending.WithLabelValues("unschedulable").Set(float64(unschedulable))
}
