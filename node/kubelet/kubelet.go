package kubelet

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/node/events"
	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/runtime"
)

// Config is what a kubelet needs. Every field but Tuning is required
// (Logger and Now default to a discarding logger and time.Now).
type Config struct {
	// NodeName is this node's name: the kubelet runs the pods whose
	// spec.nodeName equals it.
	NodeName string
	// Cache is the node's shared cache of the local replica, read only:
	// pods (by node), configmaps, secrets, services (for the env), the Node
	// object (for hostIP, allocatable and the stored conditions). Its Run
	// is the node's: the kubelet only reads it.
	Cache *follow.Shared
	// Client writes through the API: pod status, events, the final delete.
	Client kubernetes.Interface
	// Runtime runs the sandboxes and containers.
	Runtime runtime.Runtime
	// RootDir holds pod volumes under RootDir/pods/<uid>/volumes.
	RootDir string
	// ClusterDNS are the nameservers of ClusterFirst pods (this node's
	// dnsd); empty makes ClusterFirst behave as Default.
	ClusterDNS []string
	// ClusterDomain is the DNS domain, "cluster.local" when empty.
	ClusterDomain string
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tuning holds the loop periods and back-offs; zero values are
	// Kubernetes' defaults.
	Tuning Tuning
	// NodeIP is the node's InternalIP address; Version is reported as the
	// kubelet version.
	NodeIP, Version string
	// ImageFsDir is a directory on the container runtime's image
	// filesystem, for the imagefs eviction signals. Optional: "" means
	// the filesystem of RootDir.
	ImageFsDir string
	// Metrics receives the kubelet's metrics (running pods and
	// containers, pod start duration, restarts). Optional: nil counts
	// nothing. One kubelet per registry.
	Metrics prometheus.Registerer
}

// Tuning are the kubelet's periods and back-offs. Tests shorten them.
type Tuning struct {
	// Resync is the period of the full pass over pods and sandboxes
	// (0: 3s). Missed watch events heal within it.
	Resync time.Duration
	// PodSync is how often each pod worker re-reads its containers without
	// an event (0: 1s); it bounds how late an exit is noticed.
	PodSync time.Duration
	// SyncBackOff is how long a pod worker waits to retry a failed sync
	// (0: PodSync doubling to 10s, the kubelet's pod worker back-off);
	// only a change of the pod cuts it short. See syncretry.go.
	SyncBackOff BackOffPolicy
	// CrashBackOff is the restart back-off (0: 10s doubling to 5m).
	CrashBackOff BackOffPolicy
	// ImagePullBackOff is the pull back-off (0: 10s doubling to 5m).
	ImagePullBackOff BackOffPolicy
	// StartConcurrency is how many pods make their first start at once
	// (0: two per core); see startGate.
	StartConcurrency int
	// LeaseRenew is how often the node lease is renewed (0: 10s), and
	// LeaseDuration the duration it states (0: 40s); see lease.go.
	LeaseRenew, LeaseDuration time.Duration
	// NodeStatusUpdate is how often the machine and the eviction signals
	// are read (0: 10s, the kubelet's nodeStatusUpdateFrequency);
	// NodeStatusReport how often the node status is written when nothing
	// changed, moving the condition heartbeats (0: 1m).
	NodeStatusUpdate, NodeStatusReport time.Duration
	// EvictionHard are the hard eviction thresholds behind the pressure
	// conditions, signal to "100Mi" or "10%" (nil: DefaultEvictionHard);
	// PressureTransition how long a condition stays under pressure after
	// its threshold was last met (0: 5m, as the kubelet's
	// evictionPressureTransitionPeriod). See eviction.go.
	EvictionHard       map[string]string
	PressureTransition time.Duration
}

// BackOffPolicy is an exponential back-off: Initial, doubling to Max.
type BackOffPolicy struct {
	Initial, Max time.Duration
}

// Kubelet runs the pods bound to one node.
type Kubelet struct {
	cfg    Config
	log    *slog.Logger
	rt     runtime.Runtime
	caches caches
	events *recorder // set by Run before any worker starts
	crash  *backOff  // keyed by uid/container
	pulls  *backOff  // keyed by uid_image
	starts *startGate
	passes passClock // the sync loop's last full pass, for the lease
	stats  *kubeletMetrics
	ready  chan struct{}

	mu      sync.Mutex
	scheme  string // containerID scheme, e.g. "containerd"
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup // pod workers
}

// New assembles a kubelet; it does no I/O.
func New(cfg Config) *Kubelet {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	t := &cfg.Tuning
	t.Resync = orDefault(t.Resync, 3*time.Second)
	t.PodSync = orDefault(t.PodSync, time.Second)
	t.SyncBackOff.Initial = orDefault(t.SyncBackOff.Initial, t.PodSync)
	t.SyncBackOff.Max = max(orDefault(t.SyncBackOff.Max, 10*time.Second), t.SyncBackOff.Initial)
	t.CrashBackOff.Initial = orDefault(t.CrashBackOff.Initial, 10*time.Second)
	t.CrashBackOff.Max = orDefault(t.CrashBackOff.Max, 5*time.Minute)
	t.ImagePullBackOff.Initial = orDefault(t.ImagePullBackOff.Initial, 10*time.Second)
	t.ImagePullBackOff.Max = orDefault(t.ImagePullBackOff.Max, 5*time.Minute)
	t.LeaseRenew = orDefault(t.LeaseRenew, 10*time.Second)
	t.LeaseDuration = orDefault(t.LeaseDuration, 40*time.Second)
	t.NodeStatusUpdate = orDefault(t.NodeStatusUpdate, 10*time.Second)
	t.NodeStatusReport = orDefault(t.NodeStatusReport, time.Minute)
	t.PressureTransition = orDefault(t.PressureTransition, 5*time.Minute)
	if t.EvictionHard == nil {
		t.EvictionHard = DefaultEvictionHard
	}
	if t.StartConcurrency <= 0 {
		t.StartConcurrency = defaultStartConcurrency()
	}
	return &Kubelet{
		cfg:     cfg,
		log:     cfg.Logger,
		rt:      cfg.Runtime,
		caches:  newCaches(cfg.Cache),
		crash:   newBackOff(t.CrashBackOff),
		pulls:   newBackOff(t.ImagePullBackOff),
		starts:  newStartGate(t.StartConcurrency),
		stats:   newKubeletMetrics(cfg.Metrics),
		ready:   make(chan struct{}),
		scheme:  "containerd",
		workers: make(map[types.UID]*podWorker),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Ready is closed once the first full pass is done (the pods found in the
// runtime are adopted or cleaned up).
func (k *Kubelet) Ready() <-chan struct{} { return k.ready }

// Run syncs pods until ctx is cancelled: it follows the pods, configmaps
// and secrets of the node's cache, makes a full pass once the caches hold
// their first list, then follows their changes with a periodic full pass.
// It returns after every goroutine it started has stopped; the containers
// keep running.
func (k *Kubelet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The recorder stops last, after the workers: the events of their
	// last syncs are queued by then.
	rec, stopEvents := events.NewRecorder(k.cfg.Client, events.Source{Component: "kubelet", Host: k.cfg.NodeName})
	defer stopEvents()
	k.events = newRecorder(rec, k.cfg.NodeName)
	if v, err := k.rt.Version(ctx); err == nil {
		if scheme, _, ok := strings.Cut(v, "://"); ok && scheme != "" {
			k.mu.Lock()
			k.scheme = scheme
			k.mu.Unlock()
		}
	}
	// Staleness of the node lease counts from now: a runtime that hangs
	// before the first pass must stop the lease as well.
	k.passes.mark(k.cfg.Now())
	var bg sync.WaitGroup
	bg.Go(func() { k.reportNodeStatus(ctx) })
	bg.Go(func() { k.renewLease(ctx) })
	removeHandlers := func() {}
	defer func() {
		// Once removed (a removal waits for a handler running), no
		// handler starts a worker that the wait below would miss.
		removeHandlers()
		cancel()
		k.wg.Wait()
		bg.Wait()
	}()

	// Workers start once every cache holds its first list: a worker
	// before that would find its configmaps missing, and a pass would
	// take every sandbox for an orphan. The handlers, added late, are
	// first shown every cached pod.
	if !k.caches.waitReady(ctx) {
		return nil
	}
	removeHandlers = k.addHandlers(ctx)
	tick := time.NewTicker(k.cfg.Tuning.Resync)
	defer tick.Stop()
	k.fullPass(ctx)
	close(k.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			k.fullPass(ctx)
		}
	}
}

// addHandlers follows the caches: a change of a pod wakes (or starts) its
// worker, one of a configmap or secret wakes the workers of its namespace.
// Handlers run on the followers' goroutines: they only take k.mu.
func (k *Kubelet) addHandlers(ctx context.Context) (remove func()) {
	removes := []func(){
		k.caches.pods.AddHandler(follow.Handler[corev1.Pod]{
			Add:    func(p *corev1.Pod) { k.podEvent(ctx, p, false) },
			Update: func(_, p *corev1.Pod) { k.podEvent(ctx, p, false) },
			Delete: func(p *corev1.Pod) { k.podEvent(ctx, p, true) },
		}),
		k.caches.configMaps.AddHandler(onAny(func(cm *corev1.ConfigMap) { k.wakeNamespace(cm.Namespace) })),
		k.caches.secrets.AddHandler(onAny(func(s *corev1.Secret) { k.wakeNamespace(s.Namespace) })),
	}
	return func() {
		for _, r := range removes {
			r()
		}
	}
}

// onAny calls fn with the object of every add, update and delete.
func onAny[T any](fn func(obj *T)) follow.Handler[T] {
	return follow.Handler[T]{Add: fn, Update: func(_, obj *T) { fn(obj) }, Delete: fn}
}

// podEvent wakes (or starts) the worker of the pod a change is about.
func (k *Kubelet) podEvent(ctx context.Context, pod *corev1.Pod, deleted bool) {
	if k.podChanged(pod.UID) {
		return
	}
	if deleted || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.ensureWorker(ctx, pod.UID, pod.Namespace, pod.Name)
}

// fullPass starts a worker for every pod of this node and for every
// sandbox or volume directory the runtime holds without a pod (orphans,
// which their worker tears down), and wakes every worker.
func (k *Kubelet) fullPass(ctx context.Context) {
	for _, p := range k.caches.pods.ByIndex(follow.IndexPodsByNode, k.cfg.NodeName) {
		k.ensureWorker(ctx, p.UID, p.Namespace, p.Name)
	}
	sbs, err := k.rt.ListSandboxes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			k.log.Warn("list sandboxes", "error", err)
		}
	}
	for _, sb := range sbs {
		if sb.UID != "" {
			k.ensureWorker(ctx, types.UID(sb.UID), sb.Namespace, sb.Name)
		}
	}
	for _, uid := range k.volumeDirs() {
		k.ensureWorker(ctx, uid, "", "")
	}
	k.mu.Lock()
	for _, w := range k.workers {
		w.wake()
	}
	k.mu.Unlock()
	if err == nil {
		// A pass counts for the lease only when the runtime answered.
		k.passes.mark(k.cfg.Now())
	}
}

// ensureWorker starts the worker of uid unless it runs.
func (k *Kubelet) ensureWorker(ctx context.Context, uid types.UID, namespace, name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if w := k.workers[uid]; w != nil {
		w.wake()
		return
	}
	w := newPodWorker(k, uid, namespace, name)
	k.workers[uid] = w
	k.wg.Go(func() {
		defer k.removeWorker(w)
		w.run(ctx)
	})
}

func (k *Kubelet) removeWorker(w *podWorker) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.workers[w.uid] == w {
		delete(k.workers, w.uid)
	}
}

// podChanged wakes the worker of uid, even from its back-off; false when
// there is none.
func (k *Kubelet) podChanged(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[uid]
	if w != nil {
		w.podChanged()
	}
	return w != nil
}

// wakeNamespace wakes the workers of a namespace (a configmap or secret
// there changed: env and volumes may follow it).
func (k *Kubelet) wakeNamespace(ns string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		if w.namespace == ns {
			w.wake()
		}
	}
}

func (k *Kubelet) containerScheme() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.scheme
}
