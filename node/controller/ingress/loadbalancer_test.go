package ingress

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// TestLoadBalancerStatus: a LoadBalancer Service lists the addresses of
// the Ready nodes that run the Service proxy (ipMode VIP); turned into a ClusterIP Service it loses them,
// as Kubernetes clears the status on such a type change.
func TestLoadBalancerStatus(t *testing.T) {
	e := controllertest.New(t)
	e.ReadyNode("node-a", "192.0.2.11", true)
	e.ReadyNode("node-b", "192.0.2.12", false)
	e.ReadyNode("control", "192.0.2.13", true, controller.ControlPlaneRole, "") // runs no Service proxy
	svcs := e.CS.CoreV1().Services("default")
	if _, err := svcs.Create(e.Ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &LoadBalancers{Deps: e.Deps}
	status := func() []corev1.LoadBalancerIngress {
		t.Helper()
		e.Synced()
		if err := c.Reconcile(e.Ctx); err != nil {
			t.Fatal(err)
		}
		svc, err := svcs.Get(e.Ctx, "lb", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Status.LoadBalancer.Ingress
	}
	if got := status(); len(got) != 1 || got[0].IP != "192.0.2.11" || got[0].IPMode == nil || *got[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Fatalf("LoadBalancer status %+v, want 192.0.2.11 VIP", got)
	}
	svc, err := svcs.Get(e.Ctx, "lb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := svcs.Update(e.Ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := status(); len(got) != 0 {
		t.Errorf("after the change to ClusterIP: status %+v, want none", got)
	}
}
