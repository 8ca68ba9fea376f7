package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/ingress"
)

// Store resources of networking.k8s.io.
const (
	resIngresses      = "ingresses.networking.k8s.io"
	resIngressClasses = "ingressclasses.networking.k8s.io"
)

// EnsureIngressClass creates shoal's IngressClass ("shoal", controller
// shoal.io/ingress), annotated as the cluster's default, when it is
// missing, retrying until ctx ends. A class of that name that exists is
// left as it is: the user may have changed it.
func EnsureIngressClass(ctx context.Context, d Deps) error {
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ingress.ClassName,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName},
	}
	for {
		_, err := d.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		d.Logger.Debug("create ingress class", "name", class.Name, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
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
