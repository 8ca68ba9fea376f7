package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
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

	"github.com/shoal-project/shoal/consensus"
)

// Defaults of the replica manager, as kube-controller-manager's.
const (
	// replicaBurst caps the creates or deletes of one sync; the rest
	// follow in the next sync, once the store shows the first ones.
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
	resource  string // store resource: "replicasets.apps"
	gvk       schema.GroupVersionKind
	component string // source of events
	// decode returns the stored object as a ReplicaSet (a
	// ReplicationController converted) and as the stored type, which
	// events and status writes use.
	decode func(raw []byte) (*appsv1.ReplicaSet, runtime.Object, error)
	// updateStatus writes st as the status of orig (from decode).
	updateStatus func(ctx context.Context, c kubernetes.Interface, orig runtime.Object, st *appsv1.ReplicaSetStatus) error
}

// replicaManager keeps spec.replicas pods running for every object of one
// kind. It is level-triggered: a sync of one controller reads the store
// and makes the pods match; watches on the controllers and the pods queue
// the syncs, and a periodic resync queues them all.
//
//	built --Run--> subscribed, all queued --close(Ready)--> syncing --ctx done--> stopped
type replicaManager struct {
	deps    Deps
	kind    replicaKind
	log     *slog.Logger
	workers int
	burst   int
	resync  time.Duration

	pods   *replicaPodCache
	owners *replicaOwnerCache
	expect *replicaExpectations
	// rec and queue are set by Run; before it, events are dropped and
	// delayed syncs are not queued (tests that call sync directly).
	rec   record.EventRecorder
	queue workqueue.TypedRateLimitingInterface[string]
	ready chan struct{}

	// creates and deletes count the pod writes that succeeded.
	creates, deletes atomic.Int64
}

func newReplicaManager(d Deps, kind replicaKind) *replicaManager {
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
		pods:    newReplicaPodCache(),
		owners:  &replicaOwnerCache{m: map[string]replicaOwner{}},
		expect:  newReplicaExpectations(),
		rec:     discardEvents{},
		ready:   make(chan struct{}),
	}
}

// Ready is closed once the manager watches the store and has queued every
// controller.
func (m *replicaManager) Ready() <-chan struct{} { return m.ready }

// Run syncs until ctx is cancelled, then waits for the syncs in flight.
func (m *replicaManager) Run(ctx context.Context) error {
	rec, stopRec := NewRecorder(m.deps, m.kind.component)
	defer stopRec()
	m.rec = rec
	m.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: m.kind.component})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer m.queue.ShutDown()
	defer cancel()

	// Subscribe before the first full pass (L10), so nothing falls between.
	for resource, fn := range map[string]func(consensus.Event){m.kind.resource: m.onOwnerEvent, "pods": m.onPodEvent} {
		w, err := m.deps.Store.Watch(resource, "", 0)
		if err != nil {
			return err
		}
		wg.Go(func() { m.follow(ctx, resource, w, fn) })
	}
	m.enqueueAll()
	for range m.workers {
		wg.Go(func() {
			for m.processNext(ctx) {
			}
		})
	}
	close(m.ready)
	t := time.NewTicker(m.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.prune()
			m.enqueueAll()
		}
	}
}

// follow hands every event of resource to fn. A watch the store closes (a
// slow reader, a snapshot restore) is opened again and every controller
// queued, so nothing is lost.
func (m *replicaManager) follow(ctx context.Context, resource string, w *consensus.Watcher, fn func(consensus.Event)) {
	for {
		for open := true; open; {
			select {
			case <-ctx.Done():
				w.Stop()
				return
			case ev, ok := <-w.Events():
				if ok {
					fn(ev)
				}
				open = ok
			}
		}
		for {
			var err error
			if w, err = m.deps.Store.Watch(resource, "", 0); err == nil {
				break
			}
			m.log.Warn("watch", "resource", resource, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		m.enqueueAll()
	}
}

func (m *replicaManager) enqueueAll() {
	objs, _, _ := m.deps.Store.List(m.kind.resource, "", "", 0)
	for _, o := range objs {
		m.queue.Add(o.Namespace + "/" + o.Name)
	}
}

// prune drops cached pods and controllers the store no longer has.
func (m *replicaManager) prune() {
	m.pods.retain(func(key string) bool {
		parts := strings.SplitN(key, "/", 3)
		if len(parts) != 3 {
			return false
		}
		_, err := m.deps.Store.Get(parts[0], parts[1], parts[2])
		return err == nil
	})
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

// onOwnerEvent queues the controller that changed.
func (m *replicaManager) onOwnerEvent(ev consensus.Event) {
	key := ev.Object.Namespace + "/" + ev.Object.Name
	if ev.Type == consensus.Deleted {
		m.expect.forget(key)
		m.owners.forget(ev.Object.Key())
	}
	m.queue.Add(key)
}

// onPodEvent queues the controllers a pod change concerns: its controller
// (and its former one), or, for an orphan, every controller whose selector
// matches it (Kubernetes' addPod, updatePod and deletePod).
func (m *replicaManager) onPodEvent(ev consensus.Event) {
	if ev.Type == consensus.Deleted {
		m.pods.forget(ev.Object.Key())
	}
	cur, err := metaOf(ev.Object)
	if err != nil {
		return
	}
	ns := ev.Object.Namespace
	curRef := replicaControllerRef(cur)
	if ev.Prev != nil {
		if prev, err := metaOf(ev.Prev); err == nil {
			if r := replicaControllerRef(prev); r != nil && m.ours(r) && (curRef == nil || curRef.UID != r.UID) {
				m.queue.Add(ns + "/" + r.Name)
			}
		}
	}
	if curRef != nil {
		if m.ours(curRef) {
			m.queue.Add(ns + "/" + curRef.Name)
		}
		return
	}
	if ev.Type == consensus.Deleted || cur.DeletionTimestamp != nil {
		return
	}
	set := labels.Set(ev.Object.Labels)
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
	o, err := m.deps.Store.Get(m.kind.resource, ns, name)
	if errors.Is(err, consensus.ErrNotFound) {
		m.expect.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	rs, orig, err := m.kind.decode(o.Raw)
	if err != nil {
		m.log.Warn("undecodable controller", "key", key, "error", err)
		return nil // retrying will not help; a change queues it again
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		m.log.Warn("invalid selector", "key", key, "error", err)
		return nil
	}
	now := m.deps.now()
	// Expectations are checked before the pods are read, so a pod that
	// appears in between is counted rather than created again.
	needsSync := m.expect.satisfied(key, m.deps.Store.Index(), m.podGone, now)
	objs, _, _ := m.deps.Store.List("pods", ns, "", 0)
	all := m.pods.decode(objs)
	var active []*corev1.Pod
	for _, p := range all {
		if replicaPodActive(p) {
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
	st := replicaStatusFor(rs, claimed, manageErr, now)
	if err := m.writeStatus(ctx, rs, orig, st); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr == nil {
		if d, ok := replicaNextAvailable(rs, claimed, now); ok {
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
// store or terminating there.
func (m *replicaManager) podGone(pod string, uid types.UID) bool {
	ns, name, _ := strings.Cut(pod, "/")
	o, err := m.deps.Store.Get("pods", ns, name)
	if err != nil {
		return true
	}
	if types.UID(o.UID) != uid {
		return true
	}
	meta, err := metaOf(o)
	return err != nil || meta.DeletionTimestamp != nil
}

// relatedPods are the active pods of rs and of its siblings: the
// controllers of its kind in its namespace that share its own controller
// (the ReplicaSets of one Deployment).
func (m *replicaManager) relatedPods(rs *appsv1.ReplicaSet, active []*corev1.Pod) []*corev1.Pod {
	uids := map[types.UID]bool{rs.UID: true}
	if parent := replicaControllerRef(&rs.ObjectMeta); parent != nil {
		for _, o := range m.ownersIn(rs.Namespace) {
			if o.parent == parent.UID {
				uids[o.uid] = true
			}
		}
	}
	var out []*corev1.Pod
	for _, p := range active {
		if r := replicaControllerRef(&p.ObjectMeta); r != nil && uids[r.UID] {
			out = append(out, p)
		}
	}
	return out
}

// discardEvents drops events: the recorder before Run.
type discardEvents struct{}

func (discardEvents) Event(runtime.Object, string, string, string)          {}
func (discardEvents) Eventf(runtime.Object, string, string, string, ...any) {}
func (discardEvents) AnnotatedEventf(runtime.Object, map[string]string, string, string, string, ...any) {
}

var _ record.EventRecorder = discardEvents{}
