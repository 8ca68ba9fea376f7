package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/shoal-project/shoal/consensus"
)

// Store resources the deployment controller follows.
const (
	depResDeployments = "deployments.apps"
	depResReplicaSets = "replicasets.apps"
	depResPods        = "pods"
)

// deploymentKind is the GroupVersionKind of the ReplicaSets' owner.
var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// DeploymentOption configures a DeploymentController.
type DeploymentOption func(*deploymentOptions)

type deploymentOptions struct {
	workers int
	resync  time.Duration
}

// WithDeploymentWorkers sets how many deployments sync at once (default 4).
func WithDeploymentWorkers(n int) DeploymentOption {
	return func(o *deploymentOptions) {
		if n > 0 {
			o.workers = n
		}
	}
}

// WithDeploymentResync sets how often every deployment is synced with no
// event (default 5s).
func WithDeploymentResync(d time.Duration) DeploymentOption {
	return func(o *deploymentOptions) {
		if d > 0 {
			o.resync = d
		}
	}
}

// DeploymentController rolls Deployments out through ReplicaSets, as
// kube-controller-manager's deployment controller does: one ReplicaSet per
// pod template (named <deployment>-<pod-template-hash>), RollingUpdate
// (maxSurge, maxUnavailable) and Recreate, proportional scaling, pause,
// rollback by template (kubectl rollout undo), revision annotations and
// history, status and the Available and Progressing conditions. Pods are
// the ReplicaSet controller's business; this controller reads the
// ReplicaSets' status.
//
// Build it with NewDeploymentController, then call Run once; after
// leadership is lost and regained, build a new one. It resumes from the
// store: the new ReplicaSet is always looked up by template first, and its
// name is deterministic, so a new leader never makes a second one.
//
//	built --Run--> watching, first full pass queued --close(Ready)--> syncing --ctx done--> stopped
type DeploymentController struct {
	deps  Deps
	opts  deploymentOptions
	log   *slog.Logger
	now   func() time.Time
	ready chan struct{}

	// rec discards events until Run sets the API-backed recorder; queue
	// is nil until Run (tests sync by hand and may set rec).
	rec   record.EventRecorder
	queue workqueue.TypedRateLimitingInterface[string]
}

// NewDeploymentController assembles the controller over d: it reads
// d.Store and writes through d.Client. It does no I/O.
func NewDeploymentController(d Deps, opts ...DeploymentOption) *DeploymentController {
	o := deploymentOptions{workers: 4, resync: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &DeploymentController{
		deps:  d,
		opts:  o,
		log:   log,
		now:   d.now,
		ready: make(chan struct{}),
		rec:   &record.FakeRecorder{},
	}
}

// Ready is closed once the controller watches the store and every
// deployment is queued for its first sync.
func (c *DeploymentController) Ready() <-chan struct{} { return c.ready }

// Run syncs deployments until ctx is cancelled, then waits for the syncs
// in flight and returns nil.
func (c *DeploymentController) Run(ctx context.Context) error {
	rec, stopRec := NewRecorder(c.deps, "deployment-controller")
	defer stopRec()
	c.rec = rec
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.queue.ShutDown()
	defer cancel()

	// Subscribe before the first pass (L10), so nothing falls in between.
	var subscribed sync.WaitGroup
	for _, res := range []string{depResDeployments, depResReplicaSets, depResPods} {
		subscribed.Add(1)
		wg.Go(func() { c.follow(ctx, res, subscribed.Done) })
	}
	subscribed.Wait()
	c.enqueueAll()
	close(c.ready)
	for range c.opts.workers {
		wg.Go(func() { c.work(ctx) })
	}
	t := time.NewTicker(c.opts.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.enqueueAll()
		}
	}
}

// work syncs queued deployments until the queue shuts down.
func (c *DeploymentController) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		err := c.syncKey(ctx, key)
		switch {
		case err == nil:
			c.queue.Forget(key)
		case ctx.Err() != nil:
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err):
			// Someone wrote in between: sync again from the new state.
			c.log.Debug("deployment sync raced", "deployment", key, "error", err)
			c.queue.AddRateLimited(key)
		default:
			c.log.Warn("deployment sync", "deployment", key, "error", err)
			c.queue.AddRateLimited(key)
		}
		c.queue.Done(key)
	}
}

func (c *DeploymentController) enqueue(namespace, name string) {
	if c.queue != nil {
		c.queue.Add(namespace + "/" + name)
	}
}

func (c *DeploymentController) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	if c.queue != nil {
		c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
	}
}

func (c *DeploymentController) enqueueRateLimited(d *appsv1.Deployment) {
	if c.queue != nil {
		c.queue.AddRateLimited(d.Namespace + "/" + d.Name)
	}
}

// enqueueAll queues every deployment: the full pass at start, after a
// lost watch and on every resync.
func (c *DeploymentController) enqueueAll() {
	objs, _, _ := c.deps.Store.List(depResDeployments, "", "", 0)
	for _, o := range objs {
		c.enqueue(o.Namespace, o.Name)
	}
}

// follow turns the store events of resource into deployment keys. A watch
// the store closes is opened again, followed by a full pass.
func (c *DeploymentController) follow(ctx context.Context, resource string, subscribed func()) {
	first := true
	for {
		w, err := c.deps.Store.Watch(resource, "", 0)
		if err != nil {
			c.log.Warn("deployment controller watch", "resource", resource, "error", err)
			select {
			case <-ctx.Done():
				if first {
					subscribed()
				}
				return
			case <-time.After(time.Second):
				continue
			}
		}
		if first {
			subscribed()
			first = false
		} else {
			c.enqueueAll()
		}
		for open := true; open; {
			select {
			case <-ctx.Done():
				w.Stop()
				return
			case ev, ok := <-w.Events():
				if !ok {
					open = false
					break
				}
				c.handle(resource, ev)
			}
		}
	}
}

// handle maps one store event to the deployments it concerns.
func (c *DeploymentController) handle(resource string, ev consensus.Event) {
	switch resource {
	case depResDeployments:
		c.enqueue(ev.Object.Namespace, ev.Object.Name)
	case depResReplicaSets:
		c.replicaSetChanged(ev.Object)
		if ev.Prev != nil && !depSameLabels(ev.Prev.Labels, ev.Object.Labels) {
			c.replicaSetChanged(ev.Prev)
		}
	case depResPods:
		// Only a pod going away matters (Recreate waits for the old pods);
		// the ReplicaSet controller reports the rest in ReplicaSet status.
		if ev.Type == consensus.Deleted || depPodTerminal(ev.Object) {
			c.podChanged(ev.Object)
		}
	}
}

// depOwnerView is the part of an object the event handlers decode.
type depOwnerView struct {
	Metadata struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Status struct {
		Phase corev1.PodPhase `json:"phase"`
	} `json:"status"`
}

func depDecodeOwnerView(o *consensus.Object) (*depOwnerView, bool) {
	var v depOwnerView
	if err := json.Unmarshal(o.Raw, &v); err != nil {
		return nil, false
	}
	return &v, true
}

func depControllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// replicaSetChanged queues the owner of a ReplicaSet, or, for an orphan,
// every deployment of its namespace whose selector matches it (they may
// adopt it).
func (c *DeploymentController) replicaSetChanged(o *consensus.Object) {
	v, ok := depDecodeOwnerView(o)
	if !ok {
		return
	}
	if ref := depControllerOf(v.Metadata.OwnerReferences); ref != nil {
		if ref.Kind == deploymentKind.Kind && ref.APIVersion == deploymentKind.GroupVersion().String() {
			c.enqueue(o.Namespace, ref.Name)
		}
		return
	}
	objs, _, _ := c.deps.Store.List(depResDeployments, o.Namespace, "", 0)
	for _, do := range objs {
		var d struct {
			Spec struct {
				Selector *metav1.LabelSelector `json:"selector"`
			} `json:"spec"`
		}
		if json.Unmarshal(do.Raw, &d) != nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(o.Labels)) {
			c.enqueue(do.Namespace, do.Name)
		}
	}
}

// podChanged queues the deployment that owns the pod's ReplicaSet.
func (c *DeploymentController) podChanged(o *consensus.Object) {
	v, ok := depDecodeOwnerView(o)
	if !ok {
		return
	}
	ref := depControllerOf(v.Metadata.OwnerReferences)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.deps.Store.Get(depResReplicaSets, o.Namespace, ref.Name)
	if err != nil || rs.UID != string(ref.UID) {
		return
	}
	c.replicaSetChanged(rs)
}

func depPodTerminal(o *consensus.Object) bool {
	if !bytes.Contains(o.Raw, []byte(`"Succeeded"`)) && !bytes.Contains(o.Raw, []byte(`"Failed"`)) {
		return false
	}
	v, ok := depDecodeOwnerView(o)
	return ok && (v.Status.Phase == corev1.PodSucceeded || v.Status.Phase == corev1.PodFailed)
}

func depSameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
