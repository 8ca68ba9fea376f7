package kubelet

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/metrics"
	"github.com/shoal-project/shoal/runtime"
)

// podStartBuckets are the kubelet's for kubelet_pod_start_duration_seconds.
var podStartBuckets = []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600}

// containerStates are the container_state values of
// kubelet_running_containers, each reported (0 included).
var containerStates = []runtime.ContainerState{runtime.StateCreated, runtime.StateRunning, runtime.StateExited, runtime.StateUnknown}

// kubeletMetrics are the kubelet's figures, named as the Kubernetes
// kubelet names them where it has them. The running pods and containers
// are what each pod worker last saw after its sync (no runtime call at
// scrape time). Without a registerer they count for nobody.
type kubeletMetrics struct {
	podStart prometheus.Histogram
	restarts prometheus.Counter
	running  *runningCollector
}

func newKubeletMetrics(reg prometheus.Registerer) *kubeletMetrics {
	m := &kubeletMetrics{
		podStart: metrics.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubelet_pod_start_duration_seconds",
			Help:    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run.",
			Buckets: podStartBuckets,
		})),
		restarts: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_kubelet_container_restarts_total",
			Help: "Containers the kubelet started again after they exited (restart policy Always or OnFailure), probe kills included.",
		})),
		running: metrics.Register(reg, newRunningCollector()),
	}
	// A kubelet built again on the same node gets the running collector
	// of the one before (so the counters carry on); its pods are that
	// kubelet's, whose workers are gone: this one counts its own from
	// scratch.
	m.running.reset()
	return m
}

// runningCollector reports kubelet_running_pods and
// kubelet_running_containers from the workers' last syncs.
type runningCollector struct {
	pods, containers *prometheus.Desc

	mu    sync.Mutex
	byUID map[types.UID]podFigures
}

// podFigures is what one pod holds in the runtime.
type podFigures struct {
	sandbox    bool // a sandbox that is not stopped
	containers map[runtime.ContainerState]int
}

var _ prometheus.Collector = (*runningCollector)(nil)

func newRunningCollector() *runningCollector {
	return &runningCollector{
		pods: prometheus.NewDesc("kubelet_running_pods",
			"Number of pods that have a running pod sandbox.", nil, nil),
		containers: prometheus.NewDesc("kubelet_running_containers",
			"Number of containers currently running", []string{"container_state"}, nil),
		byUID: make(map[types.UID]podFigures),
	}
}

// Describe sends the two descriptors.
func (c *runningCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pods
	ch <- c.containers
}

// Collect sums the pods' figures.
func (c *runningCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pods, containers := 0, map[runtime.ContainerState]int{}
	for _, f := range c.byUID {
		if f.sandbox {
			pods++
		}
		for st, n := range f.containers {
			containers[st] += n
		}
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.pods, prometheus.GaugeValue, float64(pods))
	for _, st := range containerStates {
		ch <- prometheus.MustNewConstMetric(c.containers, prometheus.GaugeValue, float64(containers[st]), string(st))
	}
}

func (c *runningCollector) set(uid types.UID, f podFigures) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byUID[uid] = f
}

// reset forgets every pod.
func (c *runningCollector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.byUID)
}

func (c *runningCollector) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byUID, uid)
}

// count records, after a sync, what the worker's pod holds: its sandbox
// unless stopped, and its containers as last listed (none once the
// sandbox is gone). A finished worker holds nothing.
func (w *podWorker) count(done bool) {
	r := w.k.stats.running
	if done {
		r.forget(w.uid)
		return
	}
	f := podFigures{sandbox: w.sandbox != nil && !w.terminalStopped, containers: map[runtime.ContainerState]int{}}
	if w.sandbox != nil {
		for _, cs := range w.listed {
			f.containers[cs.State]++
		}
	}
	r.set(w.uid, f)
}

// observeStart records the pod's start duration when this status turns
// it from Pending to Running for the first time, as the kubelet does:
// counted from when the kubelet first saw the pod (its worker started). A
// pod found already running (adopted after a restart) is not counted.
func (w *podWorker) observeStart(pod *corev1.Pod, st corev1.PodStatus) {
	if w.startObserved || st.Phase != corev1.PodRunning {
		return
	}
	w.startObserved = true
	if pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "" {
		w.k.stats.podStart.Observe(time.Since(w.seen).Seconds())
	}
}
