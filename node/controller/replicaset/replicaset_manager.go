package replicaset

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// Defaults of the replica manager, as kube-controller-manager's.
const (
	// replicaBurst caps the creates or deletes of one sync; the rest
	// follow in the next sync, once the cache shows the first ones.
	replicaBurst = 500
	// replicaWorkers is how many controllers sync at once
	// (--concurrent-replicaset-syncs).
	replicaWorkers = 5
	// replicaResync is how often every controller is synced without an
	// event, which heals whatever a missed event left behind.
	replicaResync = 30 * time.Second
)

// replicaKind is what differs between the ReplicaSet and the
// ReplicationController controllers; everything else is shared, as
// kube-controller-manager runs ReplicationControllers through its
// ReplicaSet code.
type replicaKind struct {
	gvk       schema.GroupVersionKind
	component string // source of events
	// source reads the controllers of the kind from the node's cache as
	// ReplicaSets (a ReplicationController converted), with the stored
	// type, which events and status writes use.
	source func(*follow.Shared) replicaSource
	// updateStatus writes st as the status of orig (from decode).
	updateStatus func(ctx context.Context, c kubernetes.Interface, orig runtime.Object, st *appsv1.ReplicaSetStatus) error
}

// replicaManager keeps spec.replicas pods running for every object of one
// kind. It is level-triggered: a sync of one controller reads the node's
// cache and makes the pods match; the cache's handlers on the controllers
// and the pods queue the syncs, and a periodic resync queues them all.
//
//	built --Run--> subscribed, all queued --close(Ready)--> syncing --ctx done--> stopped
type replicaManager struct {
	deps    controller.Deps
	kind    replicaKind
	log     *slog.Logger
	workers int
	burst   int
	resync  time.Duration

	owners *ownerCache
	// src and pods are the node's caches (set once by initCaches).
	cachesOnce sync.Once
	src        replicaSource
	pods       *follow.Follower[corev1.Pod]
	expect     *replicaExpectations
	// rec and queue are set by Run; before it, events are dropped and
	// delayed syncs are not queued (tests that call sync directly).
	rec   record.EventRecorder
	queue workqueue.TypedRateLimitingInterface[string]
	ready chan struct{}

	// creates and deletes count the pod writes that succeeded.
	creates, deletes atomic.Int64
}

func newReplicaManager(d controller.Deps, kind replicaKind) *replicaManager {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &replicaManager{
		deps:    d,
		kind:    kind,
		log:     log,
		workers: replicaWorkers,
		burst:   replicaBurst,
		resync:  replicaResync,
		owners:  &ownerCache{m: map[string]replicaOwner{}},
		expect:  newReplicaExpectations(),
		rec:     controller.DiscardEvents{},
		ready:   make(chan struct{}),
	}
}

// Ready is closed once the manager follows the cache and has queued every
// controller.
func (m *replicaManager) Ready() <-chan struct{} { return m.ready }

// Run syncs until ctx is cancelled, then waits for the syncs in flight.
func (m *replicaManager) Run(ctx context.Context) error {
	rec, stopRec := controller.NewRecorder(m.deps, m.kind.component)
	defer stopRec()
	m.rec = rec
	m.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: m.kind.component})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer m.queue.ShutDown()
	defer cancel()

	// Handlers before the first full pass, so nothing falls between.
	src, pods := m.source(), m.podCache()
	defer src.watch(m.onOwnerChange)()
	defer pods.AddHandler(follow.Handler[corev1.Pod]{
		Add:    func(p *corev1.Pod) { m.onPodChange(nil, p, false) },
		Update: func(old, p *corev1.Pod) { m.onPodChange(old, p, false) },
		Delete: func(p *corev1.Pod) { m.onPodChange(nil, p, true) },
	})()
	if !follow.WaitReady(ctx, src, pods) {
		return nil
	}
	m.enqueueAll()
	for range m.workers {
		wg.Go(func() {
			for m.processNext(ctx) {
			}
		})
	}
	close(m.ready)
	// Not controller.Loop: the workers sync one key at a time, with
	// per-key rate-limited retries; the handlers queue the keys a change
	// touches, and the resync only queues every key again.
	t := time.NewTicker(m.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.enqueueAll()
		}
	}
}

// source is the kind's controllers in the node's cache.
func (m *replicaManager) source() replicaSource {
	m.initCaches()
	return m.src
}

// podCache is the node's cache of pods, indexed by namespace.
func (m *replicaManager) podCache() *follow.Follower[corev1.Pod] {
	m.initCaches()
	return m.pods
}

// initCaches asks the node's cache for the followers once: asking takes
// their locks, and a sync asks often.
func (m *replicaManager) initCaches() {
	m.cachesOnce.Do(func() {
		m.src = m.kind.source(m.deps.Cache)
		m.pods = follow.For[corev1.Pod](m.deps.Cache, "pods")
		m.pods.AddIndex(follow.IndexByNamespace, follow.ByNamespace[corev1.Pod])
	})
}

func (m *replicaManager) enqueueAll() {
	for _, key := range m.source().keys() {
		m.queue.Add(key)
	}
}

// processNext syncs one queued controller; false means the queue is shut.
func (m *replicaManager) processNext(ctx context.Context) bool {
	key, quit := m.queue.Get()
	if quit {
		return false
	}
	defer m.queue.Done(key)
	err := m.sync(ctx, key)
	switch {
	case err == nil:
		m.queue.Forget(key)
	case ctx.Err() != nil:
	case apierrors.IsConflict(err):
		m.log.Debug("sync conflict; retrying", "key", key, "error", err)
		m.queue.AddRateLimited(key)
	default:
		m.log.Warn("sync failed", "key", key, "error", err)
		m.queue.AddRateLimited(key)
	}
	return true
}

// onOwnerChange queues the controller that changed.
func (m *replicaManager) onOwnerChange(key string, deleted bool) {
	if deleted {
		m.expect.forget(key)
		m.owners.forget(key)
	}
	m.queue.Add(key)
}

// onPodChange queues the controllers a pod change concerns: its
// controller (and its former one, old's), or, for an orphan, every
// controller whose selector matches it (Kubernetes' addPod, updatePod and
// deletePod). It runs on the cache's goroutine and only queues.
func (m *replicaManager) onPodChange(old, cur *corev1.Pod, deleted bool) {
	ns := cur.Namespace
	curRef := controllerRef(&cur.ObjectMeta)
	if old != nil {
		if r := controllerRef(&old.ObjectMeta); r != nil && m.ours(r) && (curRef == nil || curRef.UID != r.UID) {
			m.queue.Add(ns + "/" + r.Name)
		}
	}
	if curRef != nil {
		if m.ours(curRef) {
			m.queue.Add(ns + "/" + curRef.Name)
		}
		return
	}
	if deleted || cur.DeletionTimestamp != nil {
		return
	}
	set := labels.Set(cur.Labels)
	for _, o := range m.ownersIn(ns) {
		if o.selector.Matches(set) {
			m.queue.Add(ns + "/" + o.name)
		}
	}
}

// ours reports whether ref names an object of this manager's kind.
func (m *replicaManager) ours(ref *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && ref.Kind == m.kind.gvk.Kind && gv.Group == m.kind.gvk.Group
}

// sync makes the pods of one controller (key namespace/name) match it and
// writes its status.
func (m *replicaManager) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	rs, orig, ok, err := m.source().get(ns, name)
	if !ok {
		m.expect.forget(key)
		return nil
	}
	if err != nil {
		m.log.Warn("undecodable controller", "key", key, "error", err)
		return nil // retrying will not help; a change queues it again
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		m.log.Warn("invalid selector", "key", key, "error", err)
		return nil
	}
	// The pod cache must hold every pod written before this version of the
	// controller, or a pod made just before it (an orphan to adopt) is
	// missed and a replica too many created.
	pods := m.podCache()
	rv, _ := strconv.ParseUint(rs.ResourceVersion, 10, 64)
	follow.WaitHolds(ctx, rv, time.Second, pods)
	now := m.deps.CurrentTime()
	// Expectations are checked before the pods are read, so a pod that
	// appears in between is counted rather than created again. The
	// cache's resourceVersion says which writes it holds.
	needsSync := m.expect.satisfied(key, pods.ResourceVersion(), m.podGone, now)
	all := pods.ByIndex(follow.IndexByNamespace, ns)
	var active []*corev1.Pod
	for _, p := range all {
		if controller.PodActive(p) {
			active = append(active, p)
		}
	}
	claimed, err := m.claim(ctx, rs, selector, active)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = m.manage(ctx, key, rs, orig, claimed, m.relatedPods(rs, active))
	}
	st := statusFor(rs, claimed, manageErr, now)
	if err := m.writeStatus(ctx, rs, orig, st); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr == nil {
		if d, ok := nextAvailable(rs, claimed, now); ok {
			m.requeueAfter(key, d)
		}
	}
	return manageErr
}

func (m *replicaManager) requeueAfter(key string, d time.Duration) {
	if m.queue != nil {
		m.queue.AddAfter(key, d)
	}
}

// podGone reports whether pod (namespace/name) with uid is gone from the
// node's cache or terminating there.
func (m *replicaManager) podGone(pod string, uid types.UID) bool {
	ns, name, _ := strings.Cut(pod, "/")
	p, ok := m.podCache().Get(ns, name)
	return !ok || p.UID != uid || p.DeletionTimestamp != nil
}

// relatedPods are the active pods of rs and of its siblings: the
// controllers of its kind in its namespace that share its own controller
// (the ReplicaSets of one Deployment).
func (m *replicaManager) relatedPods(rs *appsv1.ReplicaSet, active []*corev1.Pod) []*corev1.Pod {
	uids := map[types.UID]bool{rs.UID: true}
	if parent := controllerRef(&rs.ObjectMeta); parent != nil {
		for _, o := range m.ownersIn(rs.Namespace) {
			if o.parent == parent.UID {
				uids[o.uid] = true
			}
		}
	}
	var out []*corev1.Pod
	for _, p := range active {
		if r := controllerRef(&p.ObjectMeta); r != nil && uids[r.UID] {
			out = append(out, p)
		}
	}
	return out
}
