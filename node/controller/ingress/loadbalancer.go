package ingress

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
)

// LoadBalancers publishes where LoadBalancer Services answer: every node
// serves them on its own address (the Service proxy), so their
// status.loadBalancer.ingress lists the Ready nodes' addresses. A Service
// that is no longer a LoadBalancer loses that status.
type LoadBalancers struct {
	controller.Deps
	// Resync is how often a full pass runs without changes (0: 30s).
	Resync time.Duration
}

// Run reconciles until ctx is cancelled: a pass on every change to
// Services and Nodes, and on a timer. (A pass reads every Service, so
// the timer is long: with 10,000 Services a 2s resync was a steady cost
// on an idle leader.)
func (c *LoadBalancers) Run(ctx context.Context) error {
	resync := c.Resync
	if resync == 0 {
		resync = 30 * time.Second
	}
	trig := controller.NewTrigger()
	defer trig.PokeOn(controller.Changes(follow.For[corev1.Service](c.Cache, "services")),
		controller.Changes(follow.For[corev1.Node](c.Cache, "nodes")))()
	return controller.Loop(ctx, controller.LoopConfig{
		Name:      "load balancer status",
		Logger:    c.Logger,
		Wake:      trig.C(),
		Resync:    resync,
		Settle:    20 * time.Millisecond,
		Reconcile: c.Reconcile,
	})
}

// Reconcile makes one pass.
func (c *LoadBalancers) Reconcile(ctx context.Context) error {
	svcs := follow.For[corev1.Service](c.Cache, "services")
	if !follow.WaitReady(ctx, svcs) {
		return ctx.Err()
	}
	addrs, err := c.nodeIngress(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, cached := range svcs.List() {
		want := addrs
		if cached.Spec.Type != corev1.ServiceTypeLoadBalancer {
			// Kubernetes clears the status of a Service that stops being a
			// LoadBalancer; shoal's store keeps status across spec updates,
			// so it is cleared here (else no status write would pass).
			if len(cached.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			want = nil
		}
		if equality.Semantic.DeepEqual(cached.Status.LoadBalancer.Ingress, want) {
			continue
		}
		svc := cached.DeepCopy()
		svc.Status.LoadBalancer.Ingress = want
		_, err := c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	return errors.Join(errs...)
}

// nodeIngress lists the InternalIPs of the Ready nodes that run the
// Service proxy, sorted. A control-plane-only member (--run-pods=false)
// runs no proxy: a client sent there would be refused.
func (c *LoadBalancers) nodeIngress(ctx context.Context) ([]corev1.LoadBalancerIngress, error) {
	ips, err := readyNodeIPs(ctx, c.Deps, runsServiceProxy)
	if err != nil {
		return nil, err
	}
	var out []corev1.LoadBalancerIngress
	for _, ip := range ips {
		mode := corev1.LoadBalancerIPModeVIP
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: &mode})
	}
	return out, nil
}

// readyNodeIPs lists the InternalIPs of the Ready nodes that keep (nil:
// all of them), sorted: where a node-wide listener (LoadBalancer Services,
// Status) answers.
func readyNodeIPs(ctx context.Context, d controller.Deps, keep func(*corev1.Node) bool) ([]string, error) {
	nodes := follow.For[corev1.Node](d.Cache, "nodes")
	if !follow.WaitReady(ctx, nodes) {
		return nil, ctx.Err()
	}
	var ips []string
	for _, n := range nodes.List() {
		if keep != nil && !keep(n) {
			continue
		}
		if !nodeReady(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
			}
		}
	}
	sort.Strings(ips)
	return ips, nil
}

// runsServiceProxy: members that run pods run the Service proxy; those
// that take part in the control plane only carry its role label.
func runsServiceProxy(n *corev1.Node) bool {
	_, controlPlaneOnly := n.Labels[controller.ControlPlaneRole]
	return !controlPlaneOnly
}

// nodeReady reports whether the node's Ready condition is True.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
