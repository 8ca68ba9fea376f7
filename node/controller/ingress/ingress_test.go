package ingress

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/controllertest"
)

func testIngressFor(name string, class *string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: networkingv1.IngressSpec{IngressClassName: class, DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
}

// TestEnsureIngressClass: the bootstrap makes the default class once in
// the cluster's life (waiting for kube-system, where it records that),
// leaves a user's change alone and never brings back a deleted class; a
// cluster that already has a class of shoal's controller gets no second.
func TestEnsureIngressClass(t *testing.T) {
	e := controllertest.New(t)
	classes := e.CS.NetworkingV1().IngressClasses()
	short, cancel := context.WithTimeout(e.Ctx, 700*time.Millisecond)
	defer cancel()
	if err := EnsureClass(short, e.Deps); err == nil {
		t.Fatal("EnsureClass returned nil without kube-system")
	}
	if _, err := e.CS.CoreV1().Namespaces().Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureClass(e.Ctx, e.Deps); err != nil {
		t.Fatal(err)
	}
	c, err := classes.Get(e.Ctx, "shoal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Controller != "shoal.io/ingress" || c.Annotations["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("class %+v", c)
	}
	ns, _ := e.CS.CoreV1().Namespaces().Get(e.Ctx, "kube-system", metav1.GetOptions{})
	if ns.Annotations[AnnotationIngressClassCreated] != "shoal" {
		t.Errorf("kube-system annotations %v, want %s: shoal", ns.Annotations, AnnotationIngressClassCreated)
	}

	c.Annotations = nil // the user makes it not the default
	if _, err := classes.Update(e.Ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureClass(e.Ctx, e.Deps); err != nil {
		t.Fatal(err)
	}
	if c, _ = classes.Get(e.Ctx, "shoal", metav1.GetOptions{}); len(c.Annotations) != 0 {
		t.Fatalf("bootstrap changed the user's class: %v", c.Annotations)
	}

	// The user deletes it: the next leader's bootstrap leaves it deleted.
	if err := classes.Delete(e.Ctx, "shoal", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureClass(e.Ctx, e.Deps); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Get(e.Ctx, "shoal", metav1.GetOptions{}); err == nil {
		t.Error("the deleted class came back")
	}

	// A cluster from before the record, with its own class of shoal's
	// controller: only the record is added.
	if _, err := e.CS.CoreV1().Namespaces().Patch(e.Ctx, "kube-system", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+AnnotationIngressClassCreated+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Create(e.Ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "edge"},
		Spec: networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureClass(e.Ctx, e.Deps); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Get(e.Ctx, "shoal", metav1.GetOptions{}); err == nil {
		t.Error("a second class of shoal's controller was made")
	}
	if ns, _ := e.CS.CoreV1().Namespaces().Get(e.Ctx, "kube-system", metav1.GetOptions{}); ns.Annotations[AnnotationIngressClassCreated] == "" {
		t.Errorf("kube-system annotations %v: no record", ns.Annotations)
	}
}

// TestIngressClassAndStatus: shoal's Ingresses (of its class, or
// defaulted to it) list the Ready nodes' addresses; another class's
// Ingress is left alone.
func TestIngressClassAndStatus(t *testing.T) {
	e := controllertest.New(t)
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "shoal"}, Spec: networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"}}
	var err error
	if c, err = e.CS.NetworkingV1().IngressClasses().Create(e.Ctx, c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Annotations = map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}
	if _, err := e.CS.NetworkingV1().IngressClasses().Update(e.Ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.CS.NetworkingV1().IngressClasses().Create(e.Ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	serving := []string{controller.IngressLabel, controller.IngressServing}
	e.ReadyNode("node-b", "192.0.2.12", true, serving...)
	e.ReadyNode("node-a", "192.0.2.11", true, serving...)
	e.ReadyNode("node-c", "192.0.2.13", false, serving...)
	// Ready but without a listening Ingress proxy: a control-plane-only
	// member, ports disabled or taken.
	e.ReadyNode("node-d", "192.0.2.14", true)
	for _, ing := range []*networkingv1.Ingress{testIngressFor("defaulted", nil), testIngressFor("explicit", ptr.To("shoal")), testIngressFor("theirs", ptr.To("nginx"))} {
		if _, err := e.CS.NetworkingV1().Ingresses("default").Create(e.Ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{})
	close(started)
	e.RunLoop("ingress status", (&Status{Deps: e.Deps, Resync: 50 * time.Millisecond}).Run, started)
	addrs := func(name string) []string {
		ing, err := e.CS.NetworkingV1().Ingresses("default").Get(e.Ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range ing.Status.LoadBalancer.Ingress {
			out = append(out, in.IP)
		}
		return out
	}
	want := []string{"192.0.2.11", "192.0.2.12"}
	e.Eventually(5*time.Second, func() error {
		for _, n := range []string{"defaulted", "explicit"} {
			if got := addrs(n); !slices.Equal(got, want) {
				return fmt.Errorf("%s: addresses %v, want %v", n, got, want)
			}
		}
		return nil
	})
	if got := addrs("theirs"); len(got) != 0 {
		t.Errorf("another class's Ingress got addresses %v", got)
	}

	// Moved to another class: shoal takes its status back; another
	// controller's status (not shoal's addresses) is left alone.
	ings := e.CS.NetworkingV1().Ingresses("default")
	theirs, err := ings.Get(e.Ctx, "theirs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "198.51.100.7"}}
	if _, err := ings.UpdateStatus(e.Ctx, theirs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	moved, err := ings.Get(e.Ctx, "explicit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	moved.Spec.IngressClassName = ptr.To("nginx")
	if _, err := ings.Update(e.Ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(5*time.Second, func() error {
		if got := addrs("explicit"); len(got) != 0 {
			return fmt.Errorf("moved to nginx: addresses %v, want none", got)
		}
		return nil
	})
	time.Sleep(150 * time.Millisecond) // a few passes
	if got := addrs("theirs"); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("another controller's status: %v, want it kept", got)
	}
}
