package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// DefaultEvictionTimeout is how long the pods of a node that is not Ready
// stay bound to it before they are deleted.
const DefaultEvictionTimeout = 10 * time.Second

// Eviction deletes the pods of failed nodes so their controllers recreate
// them on healthy ones. It does what Kubernetes' node lifecycle controller,
// taint eviction controller and pod garbage collector do for a lost node,
// on shoal's shorter clock:
//
//   - When a node's Ready condition turns Unknown (gossip lost it), its
//     pods are marked not ready at once (Ready=False, event NodeNotReady
//     "Node is not ready"), so Services stop sending them traffic.
//   - Once Ready has not been True for the eviction timeout, each pod is
//     marked with the condition DisruptionTarget (event
//     TaintManagerEviction "Marking for deletion Pod NS/NAME") and deleted
//     with gracePeriodSeconds 0: its kubelet is gone and would never finish
//     a graceful deletion. A pod that tolerates the node's NoExecute taint
//     (node.kubernetes.io/unreachable or not-ready) stays for its
//     tolerationSeconds instead, or for ever without them. Unlike
//     Kubernetes, shoal adds no default 300s tolerations.
//   - Pods bound to a node whose Node object was deleted go the same way,
//     a timeout after that was first seen.
//
// The clock starts when Ready left True (the condition's
// lastTransitionTime), so a new leader keeps the old one's deadlines.
// Controller sets the condition and the taints; this controller only
// reads the condition. Build it with NewEviction and call Run once.
type Eviction struct {
	deps    controller.Deps
	timeout time.Duration
	resync  time.Duration
	log     *slog.Logger
	// rec records NodeNotReady (node-controller), evictRec
	// TaintManagerEviction (taint-eviction-controller); set by Run.
	rec, evictRec record.EventRecorder
	ready         chan struct{}

	// since is, per node, when it stopped being Ready (or was found
	// missing). Owned by the goroutine that calls Reconcile.
	since map[string]time.Time
	// wasReady holds the nodes this controller has seen Ready.
	wasReady map[string]bool
	// wrote is the newest pod this controller patched, deleted the pods
	// it deleted (by uid, with their namespace/name), until the cache
	// shows them: a pass waits for both so it never marks or evicts a pod
	// twice.
	wrote   controller.OwnWrites
	deleted map[types.UID]string
	// evicted counts the pods deleted.
	evicted atomic.Int64
}

// NewEviction assembles the controller over d with the given eviction
// timeout (<= 0 means DefaultEvictionTimeout); it does no I/O.
func NewEviction(d controller.Deps, timeout time.Duration) *Eviction {
	if timeout <= 0 {
		timeout = DefaultEvictionTimeout
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Eviction{
		deps:     d,
		timeout:  timeout,
		resync:   2 * time.Second,
		log:      log,
		rec:      controller.DiscardEvents{},
		evictRec: controller.DiscardEvents{},
		ready:    make(chan struct{}),
		since:    map[string]time.Time{},
		wasReady: map[string]bool{},
		deleted:  map[types.UID]string{},
	}
}

// Ready is closed once the first pass is done.
func (e *Eviction) Ready() <-chan struct{} { return e.ready }

// Run evicts until ctx is cancelled. A pass runs on every node change, at
// the next eviction deadline, and every couple of seconds besides (pods
// bound to a failed node later are rare and need no watch).
func (e *Eviction) Run(ctx context.Context) error {
	rec, stop := controller.NewRecorder(e.deps, "node-controller")
	defer stop()
	evictRec, stopEvict := controller.NewRecorder(e.deps, "taint-eviction-controller")
	defer stopEvict()
	e.rec, e.evictRec = rec, evictRec
	nodes, _ := e.followers()
	trig := controller.NewTrigger()
	defer trig.PokeOn(controller.Changes(nodes))()
	// Not controller.Loop: the next pass is due at the earliest eviction
	// deadline, which each pass moves, as well as at the resync.
	first := true
	for {
		next, err := e.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("eviction", "error", err)
		}
		if first {
			close(e.ready)
			first = false
		}
		wait := e.resync
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(e.deps.CurrentTime()), 10*time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-trig.C():
		case <-timer.C:
		}
		timer.Stop()
	}
}

// followers are the node's caches of nodes and pods.
func (e *Eviction) followers() (*follow.Follower[corev1.Node], *follow.Follower[corev1.Pod]) {
	return follow.For[corev1.Node](e.deps.Cache, "nodes"), follow.For[corev1.Pod](e.deps.Cache, "pods")
}

// caughtUp reports whether the pod cache holds this controller's writes.
func (e *Eviction) caughtUp(pods *follow.Follower[corev1.Pod]) bool {
	if !e.wrote.SeenBy(pods.ResourceVersion()) {
		return false
	}
	for uid, key := range e.deleted {
		ns, name, _ := strings.Cut(key, "/")
		if p, ok := pods.Get(ns, name); ok && p.UID == uid && p.DeletionTimestamp == nil {
			return false
		}
		delete(e.deleted, uid)
	}
	return true
}

// nodeFailure is a node whose pods are candidates for eviction.
type nodeFailure struct {
	ready corev1.ConditionStatus // "" when the Node object is missing
	since time.Time
}

// Reconcile makes one pass: it marks the pods of unreachable nodes not
// ready and evicts those whose deadline has passed. next is the earliest
// deadline still ahead (zero if none).
func (e *Eviction) Reconcile(ctx context.Context) (next time.Time, err error) {
	nodes, pods := e.followers()
	if !follow.WaitReady(ctx, nodes, pods) {
		return time.Time{}, ctx.Err()
	}
	controller.AwaitCache(ctx, func() bool { return e.caughtUp(pods) })
	now := e.deps.CurrentTime()
	failed := map[string]nodeFailure{}
	exists := map[string]bool{}
	for _, n := range nodes.List() {
		exists[n.Name] = true
		cond := readyCondition(&n.Status)
		if cond == nil || cond.Status == corev1.ConditionTrue {
			e.wasReady[n.Name] = true
			continue
		}
		since, ok := e.since[n.Name]
		if !ok {
			// A node seen Ready by this controller left it just now; the
			// condition's time has only seconds. Another one (a new
			// leader's first look) left it when the condition says.
			since = cond.LastTransitionTime.Time
			if e.wasReady[n.Name] || since.IsZero() || since.After(now) {
				since = now
			}
			e.since[n.Name] = since
			delete(e.wasReady, n.Name)
		}
		failed[n.Name] = nodeFailure{ready: cond.Status, since: since}
	}
	var errs []error
	for _, p := range pods.List() {
		node := p.Spec.NodeName
		if node == "" {
			continue
		}
		f, bad := failed[node]
		if !bad {
			if exists[node] {
				continue
			}
			since, ok := e.since[node]
			if !ok {
				since = now
				e.since[node] = since
			}
			f = nodeFailure{since: since}
			failed[node] = f
		}
		if f.ready == corev1.ConditionUnknown && controller.PodActive(p) && controller.PodReady(p) {
			if err := e.markNotReady(ctx, p, now); err != nil {
				errs = append(errs, err)
			}
		}
		deadline, ok := e.deadline(p, f)
		if !ok {
			continue
		}
		if now.Before(deadline) {
			if next.IsZero() || deadline.Before(next) {
				next = deadline
			}
			continue
		}
		if err := e.evict(ctx, p, f); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range e.since {
		if _, ok := failed[name]; !ok {
			delete(e.since, name)
		}
	}
	for name := range e.wasReady {
		if !exists[name] {
			delete(e.wasReady, name)
		}
	}
	return next, errors.Join(errs...)
}

// deadline returns when pod p of failed node f is to be deleted; false
// means never (it tolerates the node's NoExecute taint with no
// tolerationSeconds).
func (e *Eviction) deadline(p *corev1.Pod, f nodeFailure) (time.Time, bool) {
	var used []corev1.Toleration
	for _, t := range readinessTaints(f.ready) {
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		for _, tol := range p.Spec.Tolerations {
			if evictionTolerates(&tol, &t) {
				used = append(used, tol)
			}
		}
	}
	if len(used) == 0 {
		return f.since.Add(e.timeout), true
	}
	// Kubernetes' getMinTolerationTime: the shortest tolerationSeconds of
	// the tolerations that match; for ever when none sets it.
	secs := int64(math.MaxInt64)
	for _, tol := range used {
		if tol.TolerationSeconds != nil {
			secs = min(secs, max(*tol.TolerationSeconds, 0))
		}
	}
	if secs == math.MaxInt64 {
		return time.Time{}, false
	}
	return f.since.Add(time.Duration(secs) * time.Second), true
}

// markNotReady sets the pod's Ready condition False, as Kubernetes'
// MarkPodsNotReady does for the pods of a node that stopped reporting.
func (e *Eviction) markNotReady(ctx context.Context, p *corev1.Pod, now time.Time) error {
	cond := map[string]any{"type": corev1.PodReady, "status": corev1.ConditionFalse, "lastTransitionTime": metav1.NewTime(now)}
	if err := e.patchStatus(ctx, p, cond); err != nil {
		return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
	}
	e.rec.Eventf(p, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	return nil
}

// evict marks the pod with DisruptionTarget and deletes it at once.
func (e *Eviction) evict(ctx context.Context, p *corev1.Pod, f nodeFailure) error {
	if p.DeletionTimestamp == nil {
		reason, msg := "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint"
		if f.ready == "" {
			reason, msg = "DeletionByPodGC", "PodGC: node no longer exists"
		}
		cond := map[string]any{"type": corev1.DisruptionTarget, "status": corev1.ConditionTrue,
			"reason": reason, "message": msg, "lastTransitionTime": metav1.NewTime(e.deps.CurrentTime())}
		if err := e.patchStatus(ctx, p, cond); err != nil {
			return fmt.Errorf("mark pod %s/%s for deletion: %w", p.Namespace, p.Name, err)
		}
		e.evictRec.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
	}
	uid := p.UID
	err := e.deps.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or a new pod of that name
	}
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	e.deleted[uid] = p.Namespace + "/" + p.Name
	e.evicted.Add(1)
	e.log.Info("evicted pod", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
	return nil
}

// patchStatus merges one condition into the pod's status.
func (e *Eviction) patchStatus(ctx context.Context, p *corev1.Pod, cond map[string]any) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": p.UID},
		"status":   map[string]any{"conditions": []any{cond}},
	})
	if err != nil {
		return err
	}
	patched, err := e.deps.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.wrote.Note(patched.ResourceVersion)
	return nil
}

// evictionTolerates is Toleration.ToleratesTaint without the numeric
// operators: an empty effect matches every effect, an empty key (with
// Exists) every taint, Exists any value, Equal (or none) the same value.
func evictionTolerates(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case "", corev1.TolerationOpEqual:
		return tol.Value == t.Value
	case corev1.TolerationOpExists:
		return true
	}
	return false
}
