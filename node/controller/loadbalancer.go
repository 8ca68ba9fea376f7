package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LoadBalancers publishes where LoadBalancer Services answer: every node
// serves them on its own address (the Service proxy), so their
// status.loadBalancer.ingress lists the Ready nodes' addresses. A Service
// that is no longer a LoadBalancer loses that status.
type LoadBalancers struct {
	Deps
	// Resync is how often a full pass runs (0: 2s).
	Resync time.Duration
}

// Run reconciles until ctx is cancelled.
func (c *LoadBalancers) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 2 * time.Second
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("load balancer status", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Reconcile makes one pass.
func (c *LoadBalancers) Reconcile(ctx context.Context) error {
	ingress := c.nodeIngress()
	svcs, _, _ := c.Store.List("services", "", "", 0)
	var errs []error
	for _, o := range svcs {
		var svc corev1.Service
		if json.Unmarshal(o.Raw, &svc) != nil {
			continue
		}
		want := ingress
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			// Kubernetes clears the status of a Service that stops being a
			// LoadBalancer; shoal's store keeps status across spec updates,
			// so it is cleared here (else no status write would pass).
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			want = nil
		}
		if equality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
			continue
		}
		svc.Status.LoadBalancer.Ingress = want
		_, err := c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, &svc, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	return errors.Join(errs...)
}

// nodeIngress lists the InternalIPs of the Ready nodes that run the
// Service proxy, sorted. A control-plane-only member (--run-pods=false)
// runs no proxy: a client sent there would be refused.
func (c *LoadBalancers) nodeIngress() []corev1.LoadBalancerIngress {
	var out []corev1.LoadBalancerIngress
	for _, ip := range readyNodeIPs(c.Deps, runsServiceProxy) {
		mode := corev1.LoadBalancerIPModeVIP
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: &mode})
	}
	return out
}

// readyNodeIPs lists the InternalIPs of the Ready nodes that keep (nil:
// all of them), sorted: where a node-wide listener (LoadBalancer Services,
// Ingresses) answers.
func readyNodeIPs(d Deps, keep func(*corev1.Node) bool) []string {
	nodes, _, _ := d.Store.List("nodes", "", "", 0)
	var ips []string
	for _, o := range nodes {
		var n corev1.Node
		if json.Unmarshal(o.Raw, &n) != nil || keep != nil && !keep(&n) {
			continue
		}
		if c := readyCondition(&n.Status); c == nil || c.Status != corev1.ConditionTrue {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
			}
		}
	}
	sort.Strings(ips)
	return ips
}

// runsServiceProxy: members that run pods run the Service proxy; those
// that take part in the control plane only carry its role label.
func runsServiceProxy(n *corev1.Node) bool {
	_, controlPlaneOnly := n.Labels[controlPlaneRole]
	return !controlPlaneOnly
}
