package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/ingress"
)

// Store resources of networking.k8s.io.
const (
	resIngresses      = "ingresses.networking.k8s.io"
	resIngressClasses = "ingressclasses.networking.k8s.io"
)

// AnnotationIngressClassCreated, on the kube-system namespace, records
// that the cluster made its IngressClass once; from then on a user's
// deletion of the class is final.
const AnnotationIngressClassCreated = "shoal.io/ingress-class-created"

// EnsureIngressClass creates shoal's IngressClass ("shoal", controller
// shoal.io/ingress), annotated as the cluster's default, once in the
// cluster's life, retrying until ctx ends. The kube-system namespace's
// annotation AnnotationIngressClassCreated records it, so a later leader
// never makes the class again after a user deleted it. A cluster from
// before the annotation that already holds a class of shoal's controller
// only gets the annotation. An existing class is never changed: the user
// may have edited it.
func EnsureIngressClass(ctx context.Context, d Deps) error {
	for {
		err := ensureIngressClassOnce(ctx, d)
		if err == nil {
			return nil
		}
		d.Logger.Debug("ensure ingress class", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ensureIngressClassOnce(ctx context.Context, d Deps) error {
	// kube-system is made by the namespaces bootstrap, which may still run.
	ns, err := d.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", metav1.NamespaceSystem, err)
	}
	if _, done := ns.Annotations[AnnotationIngressClassCreated]; done {
		return nil
	}
	classes, err := d.Client.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ingress classes: %w", err)
	}
	if !slices.ContainsFunc(classes.Items, func(c networkingv1.IngressClass) bool { return c.Spec.Controller == ingress.ControllerName }) {
		class := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ingress.ClassName,
				Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
			},
			Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName},
		}
		_, err := d.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ingress class: %w", err)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationIngressClassCreated: ingress.ClassName}}})
	if err != nil {
		return err
	}
	if _, err := d.Client.CoreV1().Namespaces().Patch(ctx, metav1.NamespaceSystem, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("record ingress class creation: %w", err)
	}
	return nil
}

// Ingresses publishes where shoal's Ingresses answer: every node that runs
// the Service proxy serves them on its own address, so the
// status.loadBalancer.ingress of each Ingress of shoal's class lists the
// Ready nodes' addresses, as for LoadBalancer Services. Other classes'
// Ingresses are left to their controllers.
type Ingresses struct {
	Deps
	// Resync is how often a full pass runs (0: 2s); a change of an
	// Ingress or IngressClass also starts one.
	Resync time.Duration
}

// Run reconciles until ctx is cancelled.
func (c *Ingresses) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 2 * time.Second
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	w, err := c.Store.Watch(resIngresses, "", 0)
	if err != nil {
		return fmt.Errorf("watch ingresses: %w", err)
	}
	defer func() { w.Stop() }()
	for {
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("ingress status", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events():
			if !ok {
				if w, err = c.Store.Watch(resIngresses, "", 0); err != nil {
					return fmt.Errorf("watch ingresses: %w", err)
				}
			}
		case <-t.C:
		}
	}
}

// Reconcile makes one pass.
func (c *Ingresses) Reconcile(ctx context.Context) error {
	var want []networkingv1.IngressLoadBalancerIngress
	for _, ip := range readyNodeIPs(c.Deps) {
		want = append(want, networkingv1.IngressLoadBalancerIngress{IP: ip})
	}
	var classes []networkingv1.IngressClass
	objs, _, _ := c.Store.List(resIngressClasses, "", "", 0)
	for _, o := range objs {
		var cl networkingv1.IngressClass
		if json.Unmarshal(o.Raw, &cl) == nil {
			classes = append(classes, cl)
		}
	}
	objs, _, _ = c.Store.List(resIngresses, "", "", 0)
	var errs []error
	for _, o := range objs {
		var ing networkingv1.Ingress
		if json.Unmarshal(o.Raw, &ing) != nil || ing.DeletionTimestamp != nil || !ingress.Serves(classes, &ing) {
			continue
		}
		if equality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		ing.Status.LoadBalancer.Ingress = want
		_, err := c.Client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, &ing, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ingress %s/%s: %w", ing.Namespace, ing.Name, err))
		}
	}
	return errors.Join(errs...)
}
