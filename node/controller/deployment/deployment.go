package deployment

import (
	"context"
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

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// Store resources the deployment controller follows.
const (
	resDeployments = "deployments.apps"
	resReplicaSets = "replicasets.apps"
	resPods        = "pods"
)

// deploymentKind is the GroupVersionKind of the ReplicaSets' owner.
var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Option configures a Controller.
type Option func(*options)

type options struct {
	workers int
	resync  time.Duration
}

// WithWorkers sets how many deployments sync at once (default 4).
func WithWorkers(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.workers = n
		}
	}
}

// WithResync sets how often every deployment is synced with no
// event (default 5s).
func WithResync(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.resync = d
		}
	}
}

// Controller rolls Deployments out through ReplicaSets, as
// kube-controller-manager's deployment controller does: one ReplicaSet per
// pod template (named <deployment>-<pod-template-hash>), RollingUpdate
// (maxSurge, maxUnavailable) and Recreate, proportional scaling, pause,
// rollback by template (kubectl rollout undo), revision annotations and
// history, status and the Available and Progressing conditions. Pods are
// the ReplicaSet controller's business; this controller reads the
// ReplicaSets' status.
//
// Build it with New, then call Run once; after
// leadership is lost and regained, build a new one. It resumes from the
// store: the new ReplicaSet is always looked up by template first, and its
// name is deterministic, so a new leader never makes a second one.
//
//	built --Run--> watching, first full pass queued --close(Ready)--> syncing --ctx done--> stopped
type Controller struct {
	deps  controller.Deps
	opts  options
	log   *slog.Logger
	now   func() time.Time
	ready chan struct{}

	// rec discards events until Run sets the API-backed recorder; queue
	// is nil until Run (tests sync by hand and may set rec).
	rec   record.EventRecorder
	queue workqueue.TypedRateLimitingInterface[string]

	// wroteRS and wroteD are the newest ReplicaSet and Deployment this
	// controller wrote: a sync waits for the cache to hold them, so it
	// reads its own writes as it did when it read the store.
	wroteRS, wroteD controller.OwnWrites

	followOnce sync.Once
	caches     deploymentFollowers // set once by followers
}

// New assembles the controller over d: it reads
// d.Cache and writes through d.Client. It does no I/O.
func New(d controller.Deps, opts ...Option) *Controller {
	o := options{workers: 4, resync: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Controller{
		deps:  d,
		opts:  o,
		log:   log,
		now:   d.CurrentTime,
		ready: make(chan struct{}),
		rec:   &record.FakeRecorder{},
	}
}

// Ready is closed once the controller follows the cache and every
// deployment is queued for its first sync.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Run syncs deployments until ctx is cancelled, then waits for the syncs
// in flight and returns nil.
func (c *Controller) Run(ctx context.Context) error {
	rec, stopRec := controller.NewRecorder(c.deps, "deployment-controller")
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

	// Handlers before the first pass, so nothing falls in between.
	f := c.followers()
	defer f.deployments.AddHandler(follow.Handler[appsv1.Deployment]{
		Add:    func(d *appsv1.Deployment) { c.enqueue(d.Namespace, d.Name) },
		Update: func(_, d *appsv1.Deployment) { c.enqueue(d.Namespace, d.Name) },
		Delete: func(d *appsv1.Deployment) { c.enqueue(d.Namespace, d.Name) },
	})()
	defer f.replicaSets.AddHandler(follow.Handler[appsv1.ReplicaSet]{
		Add: c.replicaSetChanged,
		Update: func(old, rs *appsv1.ReplicaSet) {
			c.replicaSetChanged(rs)
			if !sameLabels(old.Labels, rs.Labels) {
				c.replicaSetChanged(old)
			}
		},
		Delete: c.replicaSetChanged,
	})()
	// Only a pod going away matters (Recreate waits for the old pods); the
	// ReplicaSet controller reports the rest in ReplicaSet status.
	defer f.pods.AddHandler(follow.Handler[corev1.Pod]{
		Add: func(p *corev1.Pod) {
			if podTerminal(p) {
				c.podChanged(p)
			}
		},
		Update: func(_, p *corev1.Pod) {
			if podTerminal(p) {
				c.podChanged(p)
			}
		},
		Delete: c.podChanged,
	})()
	if !follow.WaitReady(ctx, f.deployments, f.replicaSets, f.pods) {
		return nil
	}
	c.enqueueAll()
	close(c.ready)
	for range c.opts.workers {
		wg.Go(func() { c.work(ctx) })
	}
	// Not controller.Loop: the workers sync one key at a time, with
	// per-key rate-limited retries; the handlers queue the keys a change
	// touches, and the resync only queues every key again.
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

// deploymentFollowers are the node's caches the controller reads, each
// indexed by namespace.
type deploymentFollowers struct {
	deployments *follow.Follower[appsv1.Deployment]
	replicaSets *follow.Follower[appsv1.ReplicaSet]
	pods        *follow.Follower[corev1.Pod]
}

// followers asks the node's cache for the followers once: asking takes
// their locks, and the handlers and syncs ask often.
func (c *Controller) followers() deploymentFollowers {
	c.followOnce.Do(func() {
		f := deploymentFollowers{
			deployments: follow.For[appsv1.Deployment](c.deps.Cache, resDeployments),
			replicaSets: follow.For[appsv1.ReplicaSet](c.deps.Cache, resReplicaSets),
			pods:        follow.For[corev1.Pod](c.deps.Cache, resPods),
		}
		f.deployments.AddIndex(follow.IndexByNamespace, follow.ByNamespace[appsv1.Deployment])
		f.replicaSets.AddIndex(follow.IndexByNamespace, follow.ByNamespace[appsv1.ReplicaSet])
		f.pods.AddIndex(follow.IndexByNamespace, follow.ByNamespace[corev1.Pod])
		c.caches = f
	})
	return c.caches
}

// work syncs queued deployments until the queue shuts down.
func (c *Controller) work(ctx context.Context) {
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

func (c *Controller) enqueue(namespace, name string) {
	if c.queue != nil {
		c.queue.Add(namespace + "/" + name)
	}
}

func (c *Controller) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	if c.queue != nil {
		c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
	}
}

func (c *Controller) enqueueRateLimited(d *appsv1.Deployment) {
	if c.queue != nil {
		c.queue.AddRateLimited(d.Namespace + "/" + d.Name)
	}
}

// enqueueAll queues every deployment: the full pass at start and on
// every resync.
func (c *Controller) enqueueAll() {
	for _, d := range c.followers().deployments.List() {
		c.enqueue(d.Namespace, d.Name)
	}
}

// replicaSetChanged queues the owner of a ReplicaSet, or, for an orphan,
// every deployment of its namespace whose selector matches it (they may
// adopt it). It runs on the cache's goroutine and only queues.
func (c *Controller) replicaSetChanged(rs *appsv1.ReplicaSet) {
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if ref.Kind == deploymentKind.Kind && ref.APIVersion == deploymentKind.GroupVersion().String() {
			c.enqueue(rs.Namespace, ref.Name)
		}
		return
	}
	for _, d := range c.followers().deployments.ByIndex(follow.IndexByNamespace, rs.Namespace) {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(rs.Labels)) {
			c.enqueue(d.Namespace, d.Name)
		}
	}
}

// podChanged queues the deployment that owns the pod's ReplicaSet.
func (c *Controller) podChanged(p *corev1.Pod) {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, ok := c.followers().replicaSets.Get(p.Namespace, ref.Name)
	if !ok || rs.UID != ref.UID {
		return
	}
	c.replicaSetChanged(rs)
}

func podTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func sameLabels(a, b map[string]string) bool {
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
