package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// namespaceFinalizer holds a namespace until its contents are gone; the API
// server adds it when the namespace is deleted.
const namespaceFinalizer = "kubernetes"

// Namespaces finishes the deletion of namespaces: it marks them
// Terminating, deletes everything in them, and then releases the
// namespace's finalizer so the store removes it.
type Namespaces struct {
	controller.Deps
}

// Run reconciles until ctx is cancelled: at every change of a namespace
// and every second (a namespace's contents are not followed).
func (c *Namespaces) Run(ctx context.Context) error {
	nss := follow.For[corev1.Namespace](c.Cache, "namespaces")
	trig := controller.NewTrigger()
	defer trig.PokeOn(controller.Changes(nss))()
	if !follow.WaitReady(ctx, nss) {
		return nil
	}
	return controller.Loop(ctx, controller.LoopConfig{
		Name:      "namespace controller",
		Logger:    c.Logger,
		Wake:      trig.C(),
		Resync:    time.Second,
		Reconcile: func(ctx context.Context) error { return c.reconcile(ctx, nss) },
	})
}

// reconcile makes one pass over the namespaces being deleted.
func (c *Namespaces) reconcile(ctx context.Context, nss *follow.Follower[corev1.Namespace]) error {
	var errs []error
	for _, ns := range nss.List() {
		if ns.DeletionTimestamp == nil {
			continue
		}
		if err := c.finalize(ctx, ns.DeepCopy()); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Namespaces) finalize(ctx context.Context, ns *corev1.Namespace) error {
	if ns.Status.Phase != corev1.NamespaceTerminating {
		ns.Status.Phase = corev1.NamespaceTerminating
		if _, err := c.Client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark terminating: %w", err)
		}
	}
	remaining := 0
	bg := metav1.DeletePropagationBackground
	for _, k := range registry.All() {
		if !k.Namespaced {
			continue
		}
		objs, _, _ := c.Store.List(k.GroupResource().String(), ns.Name, "", 0)
		remaining += len(objs)
		for _, o := range objs {
			m, err := metaOf(o)
			if err != nil || m.DeletionTimestamp != nil {
				continue
			}
			err = c.Dynamic.Resource(gvr(k)).Namespace(ns.Name).Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s %s: %w", k.GroupResource(), o.Name, err)
			}
		}
	}
	if remaining > 0 || !slices.Contains(ns.Finalizers, namespaceFinalizer) {
		return nil
	}
	patch := []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + namespaceFinalizer + `"]}}`)
	_, err := c.Client.CoreV1().Namespaces().Patch(ctx, ns.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release finalizer: %w", err)
	}
	c.Logger.Info("namespace deleted", "name", ns.Name)
	return nil
}
