package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/controller"
)

// Collector deletes objects whose owners are all gone (background
// propagation), releases dependents of owners deleted with the orphan
// policy, and holds owners deleted in the foreground until their
// dependents are gone, as Kubernetes' garbage collector does.
type Collector struct {
	controller.Deps
	// Interval is how often a full pass runs; 0 means 2s.
	Interval time.Duration
}

// Run collects until ctx is cancelled.
func (c *Collector) Run(ctx context.Context) error {
	interval := c.Interval
	if interval == 0 {
		interval = 2 * time.Second
	}
	var last uint64
	return controller.Loop(ctx, controller.LoopConfig{
		Name:   "garbage collector",
		Logger: c.Logger,
		Resync: interval,
		Reconcile: func(ctx context.Context) error {
			// A pass costs a scan of the store: skip it when nothing
			// changed since the last one that succeeded.
			idx := c.Store.Index()
			if idx == last {
				return nil
			}
			if err := c.Collect(ctx); err != nil {
				return err
			}
			last = idx
			return nil
		},
	})
}

// gcObject is what the collector knows of one object.
type gcObject struct {
	kind *registry.Kind
	meta *metav1.ObjectMeta
}

// Collect makes one full pass.
func (c *Collector) Collect(ctx context.Context) error {
	// Only objects with owners or a pending deletion need decoding; every
	// other object just proves that its uid is alive.
	// One snapshot for every kind: lists of the live store taken one after
	// the other could miss an owner made after its kind was listed but see
	// its dependent, and delete that as an orphan.
	snap := c.Store.Snapshot()
	live := map[types.UID]string{}
	var all []*gcObject
	for _, k := range registry.All() {
		objs := snap.List(k.GroupResource().String(), "")
		for _, o := range objs {
			live[types.UID(o.UID)] = o.Namespace
			if !bytes.Contains(o.Raw, []byte(`"ownerReferences"`)) && !bytes.Contains(o.Raw, []byte(`"deletionTimestamp"`)) {
				continue
			}
			m, err := metaOf(o)
			if err != nil {
				continue
			}
			all = append(all, &gcObject{kind: k, meta: m})
		}
	}
	dependents := map[types.UID][]*gcObject{}
	var errs []error
	for _, g := range all {
		if len(g.meta.OwnerReferences) == 0 {
			continue
		}
		alive := false
		for _, ref := range g.meta.OwnerReferences {
			dependents[ref.UID] = append(dependents[ref.UID], g)
			if ns, ok := live[ref.UID]; ok && (ns == g.meta.Namespace || ns == "") {
				alive = true
			}
		}
		if !alive && g.meta.DeletionTimestamp == nil {
			if err := c.delete(ctx, g, metav1.DeletePropagationBackground); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, g := range all {
		if g.meta.DeletionTimestamp == nil {
			continue
		}
		switch {
		case slices.Contains(g.meta.Finalizers, metav1.FinalizerOrphanDependents):
			if err := c.orphan(ctx, g, dependents[g.meta.UID]); err != nil {
				errs = append(errs, err)
			}
		case slices.Contains(g.meta.Finalizers, metav1.FinalizerDeleteDependents):
			if err := c.foreground(ctx, g, dependents[g.meta.UID]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Collector) delete(ctx context.Context, g *gcObject, policy metav1.DeletionPropagation) error {
	uid := g.meta.UID
	err := c.Dynamic.Resource(gvr(g.kind)).Namespace(g.meta.Namespace).Delete(ctx, g.meta.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", g.kind.GroupResource(), g.meta.Namespace, g.meta.Name, err)
	}
	if err == nil {
		c.Logger.Debug("garbage collected", "resource", g.kind.GroupResource().String(), "namespace", g.meta.Namespace, "name", g.meta.Name)
	}
	return nil
}

// orphan removes the owner's reference from every dependent, then the
// owner's orphan finalizer.
func (c *Collector) orphan(ctx context.Context, owner *gcObject, deps []*gcObject) error {
	for _, d := range deps {
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, owner.meta.UID, d.meta.UID)
		_, err := c.Dynamic.Resource(gvr(d.kind)).Namespace(d.meta.Namespace).Patch(ctx, d.meta.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("orphan %s %s: %w", d.kind.GroupResource(), d.meta.Name, err)
		}
	}
	return c.releaseFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// foreground deletes the dependents and releases the owner once none is
// left.
func (c *Collector) foreground(ctx context.Context, owner *gcObject, deps []*gcObject) error {
	for _, d := range deps {
		if d.meta.DeletionTimestamp == nil {
			if err := c.delete(ctx, d, metav1.DeletePropagationForeground); err != nil {
				return err
			}
		}
	}
	if len(deps) > 0 {
		return nil
	}
	return c.releaseFinalizer(ctx, owner, metav1.FinalizerDeleteDependents)
}

func (c *Collector) releaseFinalizer(ctx context.Context, g *gcObject, fin string) error {
	patch := fmt.Sprintf(`{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q]}}`, fin)
	_, err := c.Dynamic.Resource(gvr(g.kind)).Namespace(g.meta.Namespace).Patch(ctx, g.meta.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release %s finalizer of %s %s: %w", fin, g.kind.GroupResource(), g.meta.Name, err)
	}
	return nil
}
