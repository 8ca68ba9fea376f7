package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLoadBalancerStatus: a LoadBalancer Service lists the addresses of
// the Ready nodes that run the Service proxy (ipMode VIP); turned into a ClusterIP Service it loses them,
// as Kubernetes clears the status on such a type change.
func TestLoadBalancerStatus(t *testing.T) {
	e := newRSEnv(t)
	e.readyNode("node-a", "192.0.2.11", true)
	e.readyNode("node-b", "192.0.2.12", false)
	e.readyNode("control", "192.0.2.13", true, ControlPlaneRole, "") // runs no Service proxy
	svcs := e.cs.CoreV1().Services("default")
	if _, err := svcs.Create(e.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &LoadBalancers{Deps: e.deps}
	status := func() []corev1.LoadBalancerIngress {
		t.Helper()
		e.synced()
		if err := c.Reconcile(e.ctx); err != nil {
			t.Fatal(err)
		}
		svc, err := svcs.Get(e.ctx, "lb", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Status.LoadBalancer.Ingress
	}
	if got := status(); len(got) != 1 || got[0].IP != "192.0.2.11" || got[0].IPMode == nil || *got[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Fatalf("LoadBalancer status %+v, want 192.0.2.11 VIP", got)
	}
	svc, err := svcs.Get(e.ctx, "lb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := svcs.Update(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := status(); len(got) != 0 {
		t.Errorf("after the change to ClusterIP: status %+v, want none", got)
	}
}
