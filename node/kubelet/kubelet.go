package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/runtime"
)

// Config is what a kubelet needs. Every field but Tuning is required
// (Logger and Now default to a discarding logger and time.Now).
type Config struct {
	// NodeName is this node's name: the kubelet runs the pods whose
	// spec.nodeName equals it.
	NodeName string
	// Store is the local replica, read only: pods, configmaps, secrets, the
	// Node object (for hostIP and allocatable).
	Store *consensus.Store
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
	// EventFlush is how often repeated events are written with their new
	// count (0: 2s).
	EventFlush time.Duration
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
	events *recorder
	crash  *backOff // keyed by uid/container
	pulls  *backOff // keyed by uid_image
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
	t.EventFlush = orDefault(t.EventFlush, 2*time.Second)
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
		events:  newRecorder(cfg.Client, cfg.NodeName, cfg.Now, cfg.Logger, t.EventFlush),
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

// Run syncs pods until ctx is cancelled: it subscribes to the store's
// watches, makes a full pass, then follows events with a periodic full
// pass. It returns after every goroutine it started has stopped; the
// containers keep running.
func (k *Kubelet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
	bg.Go(func() { k.events.run(ctx) })
	bg.Go(func() { k.reportNodeStatus(ctx) })
	bg.Go(func() { k.renewLease(ctx) })
	defer func() {
		cancel()
		k.wg.Wait()
		bg.Wait()
	}()

	tick := time.NewTicker(k.cfg.Tuning.Resync)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := k.subscribe()
		if err != nil {
			return fmt.Errorf("kubelet: watch: %w", err)
		}
		k.fullPass(ctx)
		select {
		case <-k.ready:
		default:
			close(k.ready)
		}
		k.follow(ctx, w, tick.C)
		w.stop()
	}
	return nil
}

// follow handles watch events and resync ticks until ctx ends or a watch
// closes (overflow or store reset: the caller re-subscribes).
func (k *Kubelet) follow(ctx context.Context, w *watches, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			k.fullPass(ctx)
		case ev, ok := <-w.pods.Events():
			if !ok {
				return
			}
			k.podEvent(ctx, ev)
		case ev, ok := <-w.configMaps.Events():
			if !ok {
				return
			}
			k.wakeNamespace(ev.Object.Namespace)
		case ev, ok := <-w.secrets.Events():
			if !ok {
				return
			}
			k.wakeNamespace(ev.Object.Namespace)
		}
	}
}

// watches are the store subscriptions of one Run round.
type watches struct{ pods, configMaps, secrets *consensus.Watcher }

func (k *Kubelet) subscribe() (*watches, error) {
	var ws []*consensus.Watcher
	for _, res := range []string{"pods", "configmaps", "secrets"} {
		w, err := k.cfg.Store.Watch(res, "", 0)
		if err != nil {
			for _, o := range ws {
				o.Stop()
			}
			return nil, err
		}
		ws = append(ws, w)
	}
	return &watches{pods: ws[0], configMaps: ws[1], secrets: ws[2]}, nil
}

func (w *watches) stop() {
	w.pods.Stop()
	w.configMaps.Stop()
	w.secrets.Stop()
}

// podEvent wakes (or starts) the worker of the pod an event is about.
func (k *Kubelet) podEvent(ctx context.Context, ev consensus.Event) {
	uid := types.UID(ev.Object.UID)
	if k.podChanged(uid) {
		return
	}
	if ev.Type == consensus.Deleted || podNodeName(ev.Object.Raw) != k.cfg.NodeName {
		return
	}
	k.ensureWorker(ctx, uid, ev.Object.Namespace, ev.Object.Name)
}

// fullPass starts a worker for every pod of this node and for every
// sandbox or volume directory the runtime holds without a pod (orphans,
// which their worker tears down), and wakes every worker.
func (k *Kubelet) fullPass(ctx context.Context) {
	items, _, _ := k.cfg.Store.List("pods", "", "", 0)
	for _, o := range items {
		if podNodeName(o.Raw) == k.cfg.NodeName {
			k.ensureWorker(ctx, types.UID(o.UID), o.Namespace, o.Name)
		}
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

// podNodeName peeks at spec.nodeName without decoding the whole pod.
func podNodeName(raw []byte) string {
	var p struct {
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Spec.NodeName
}

// storedPod reads a pod from the store; nil when it does not exist.
func (k *Kubelet) storedPod(namespace, name string) (*corev1.Pod, error) {
	o, err := k.cfg.Store.Get("pods", namespace, name)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(o.Raw, pod); err != nil {
		return nil, fmt.Errorf("decode pod %s/%s: %w", namespace, name, err)
	}
	return pod, nil
}

// node reads this node's Node object; nil when it does not exist yet.
func (k *Kubelet) node() *corev1.Node {
	o, err := k.cfg.Store.Get("nodes", "", k.cfg.NodeName)
	if err != nil {
		return nil
	}
	n := &corev1.Node{}
	if json.Unmarshal(o.Raw, n) != nil {
		return nil
	}
	return n
}

// hostIP is the node's InternalIP (else its first address).
func (k *Kubelet) hostIP() string {
	n := k.node()
	if n == nil {
		return ""
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeExternalIP {
			return a.Address
		}
	}
	return ""
}
