package kubelet

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/runtime"
)

// TestKubeletMetrics: a pod that runs counts as a running pod and
// container with its start observed once; a crashing container counts its
// restarts; a deleted pod no longer counts.
func TestKubeletMetrics(t *testing.T) {
	e := newLoopEnv(t)
	e.rt.set(func() { e.rt.behave["crasher"] = fakeBehaviour{code: 1, reason: "Error"} })
	reg := prometheus.NewPedanticRegistry()
	e.metrics = reg
	e.start()

	e.createPod(testPod("web", "busybox:1.36"))
	crash := testPod("crash", "busybox:1.36")
	crash.Spec.Containers[0].Name = "crasher"
	e.createPod(crash)
	e.eventually("web Running, crash restarted twice, both counted", func() (bool, string) {
		if e.GetPod("web").Status.Phase != corev1.PodRunning {
			return false, "web not running"
		}
		m := kubeletSamples(t, reg)
		ok := m["kubelet_running_pods"] == 2 && m[`kubelet_running_containers{container_state="running"}`] == 1 &&
			m["kubelet_pod_start_duration_seconds_count"] == 2 && m["shoal_kubelet_container_restarts_total"] >= 2
		return ok, fmt.Sprint(m)
	})
	// The start is observed once per pod, however many syncs follow.
	if m := kubeletSamples(t, reg); m["kubelet_pod_start_duration_seconds_count"] != 2 {
		t.Errorf("pod starts: expected 2, seen %v", m["kubelet_pod_start_duration_seconds_count"])
	}

	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web no longer counted", func() (bool, string) {
		m := kubeletSamples(t, reg)
		return m["kubelet_running_pods"] == 1 && m[`kubelet_running_containers{container_state="running"}`] == 0, fmt.Sprint(m)
	})
}

// TestKubeletMetricsRebuilt: a kubelet that stops no longer counts its
// pods, and one built again on the same registry counts only its own,
// even for pods it will never see again.
func TestKubeletMetricsRebuilt(t *testing.T) {
	e := newLoopEnv(t)
	reg := prometheus.NewPedanticRegistry()
	e.metrics = reg
	e.start()
	e.createPod(testPod("web", "busybox:1.36"))
	e.eventually("web Running and counted", func() (bool, string) {
		m := kubeletSamples(t, reg)
		return e.GetPod("web").Status.Phase == corev1.PodRunning && m["kubelet_running_pods"] == 1, fmt.Sprint(m)
	})
	e.stop()
	if m := kubeletSamples(t, reg); m["kubelet_running_pods"] != 0 || m[`kubelet_running_containers{container_state="running"}`] != 0 {
		t.Errorf("after the kubelet stopped: expected 0 running pods and containers, seen %v", m)
	}

	// The next kubelet finds web in the runtime again and counts it once.
	e.start()
	e.eventually("web counted once by the new kubelet", func() (bool, string) {
		m := kubeletSamples(t, reg)
		return m["kubelet_running_pods"] == 1 && m[`kubelet_running_containers{container_state="running"}`] == 1, fmt.Sprint(m)
	})
}

// TestRunningCollectorRebuilt: building the metrics again on a registry
// hands back the registered collector, emptied of the old kubelet's pods.
func TestRunningCollectorRebuilt(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	first := newKubeletMetrics(reg)
	first.running.set("uid-1", podFigures{sandbox: true, containers: map[runtime.ContainerState]int{runtime.StateRunning: 1}})
	second := newKubeletMetrics(reg)
	if second.running != first.running {
		t.Fatal("expected the registered running collector back, seen a new one")
	}
	if m := kubeletSamples(t, reg); m["kubelet_running_pods"] != 0 || m[`kubelet_running_containers{container_state="running"}`] != 0 {
		t.Errorf("rebuilt kubelet metrics: expected 0 running pods and containers, seen %v", m)
	}
}

// kubeletSamples flattens reg to `name{l="v"}` -> value (histograms: their
// _count).
func kubeletSamples(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			default:
				out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return out
}
