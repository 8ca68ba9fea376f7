package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/membership"
)

// readyNode creates a Node with an InternalIP and the given readiness,
// and labels (the Ingress label, say).
func (e *rsEnv) readyNode(name, ip string, ready bool, labels ...string) {
	e.tb.Helper()
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	n, err := e.cs.CoreV1().Nodes().Create(e.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if err != nil {
		e.tb.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	if _, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.tb.Fatal(err)
	}
}

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
	e := newRSEnv(t)
	classes := e.cs.NetworkingV1().IngressClasses()
	short, cancel := context.WithTimeout(e.ctx, 700*time.Millisecond)
	defer cancel()
	if err := EnsureIngressClass(short, e.deps); err == nil {
		t.Fatal("EnsureIngressClass returned nil without kube-system")
	}
	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureIngressClass(e.ctx, e.deps); err != nil {
		t.Fatal(err)
	}
	c, err := classes.Get(e.ctx, "shoal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Controller != "shoal.io/ingress" || c.Annotations["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("class %+v", c)
	}
	ns, _ := e.cs.CoreV1().Namespaces().Get(e.ctx, "kube-system", metav1.GetOptions{})
	if ns.Annotations[AnnotationIngressClassCreated] != "shoal" {
		t.Errorf("kube-system annotations %v, want %s: shoal", ns.Annotations, AnnotationIngressClassCreated)
	}

	c.Annotations = nil // the user makes it not the default
	if _, err := classes.Update(e.ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureIngressClass(e.ctx, e.deps); err != nil {
		t.Fatal(err)
	}
	if c, _ = classes.Get(e.ctx, "shoal", metav1.GetOptions{}); len(c.Annotations) != 0 {
		t.Fatalf("bootstrap changed the user's class: %v", c.Annotations)
	}

	// The user deletes it: the next leader's bootstrap leaves it deleted.
	if err := classes.Delete(e.ctx, "shoal", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureIngressClass(e.ctx, e.deps); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Get(e.ctx, "shoal", metav1.GetOptions{}); err == nil {
		t.Error("the deleted class came back")
	}

	// A cluster from before the record, with its own class of shoal's
	// controller: only the record is added.
	if _, err := e.cs.CoreV1().Namespaces().Patch(e.ctx, "kube-system", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+AnnotationIngressClassCreated+`":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Create(e.ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "edge"},
		Spec: networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureIngressClass(e.ctx, e.deps); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Get(e.ctx, "shoal", metav1.GetOptions{}); err == nil {
		t.Error("a second class of shoal's controller was made")
	}
	if ns, _ := e.cs.CoreV1().Namespaces().Get(e.ctx, "kube-system", metav1.GetOptions{}); ns.Annotations[AnnotationIngressClassCreated] == "" {
		t.Errorf("kube-system annotations %v: no record", ns.Annotations)
	}
}

// TestIngressClassAndStatus: shoal's Ingresses (of its class, or
// defaulted to it) list the Ready nodes' addresses; another class's
// Ingress is left alone.
func TestIngressClassAndStatus(t *testing.T) {
	e := newRSEnv(t)
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "shoal"}, Spec: networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"}}
	var err error
	if c, err = e.cs.NetworkingV1().IngressClasses().Create(e.ctx, c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Annotations = map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}
	if _, err := e.cs.NetworkingV1().IngressClasses().Update(e.ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cs.NetworkingV1().IngressClasses().Create(e.ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	serving := []string{IngressLabel, IngressServing}
	e.readyNode("node-b", "192.0.2.12", true, serving...)
	e.readyNode("node-a", "192.0.2.11", true, serving...)
	e.readyNode("node-c", "192.0.2.13", false, serving...)
	// Ready but without a listening Ingress proxy: a control-plane-only
	// member, ports disabled or taken.
	e.readyNode("node-d", "192.0.2.14", true)
	for _, ing := range []*networkingv1.Ingress{testIngressFor("defaulted", nil), testIngressFor("explicit", ptr.To("shoal")), testIngressFor("theirs", ptr.To("nginx"))} {
		if _, err := e.cs.NetworkingV1().Ingresses("default").Create(e.ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{})
	close(started)
	e.runLoop("ingress status", (&Ingresses{Deps: e.deps, Resync: 50 * time.Millisecond}).Run, started)
	addrs := func(name string) []string {
		ing, err := e.cs.NetworkingV1().Ingresses("default").Get(e.ctx, name, metav1.GetOptions{})
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
	e.eventually(5*time.Second, func() error {
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
	ings := e.cs.NetworkingV1().Ingresses("default")
	theirs, err := ings.Get(e.ctx, "theirs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "198.51.100.7"}}
	if _, err := ings.UpdateStatus(e.ctx, theirs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	moved, err := ings.Get(e.ctx, "explicit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	moved.Spec.IngressClassName = ptr.To("nginx")
	if _, err := ings.Update(e.ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(5*time.Second, func() error {
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

// roleMembers is a gossip view with roles per member.
type roleMembers struct {
	mu    sync.Mutex
	roles map[string][]string
}

func (m *roleMembers) set(name string, roles ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roles[name] = roles
}

func (m *roleMembers) Members() []membership.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []membership.Member
	for name, roles := range m.roles {
		out = append(out, membership.Member{Name: name, State: membership.Alive,
			Meta: membership.Meta{Roles: roles, CPU: 4000, MemoryBytes: 8 << 30, APIAddr: "192.0.2.1:6443"}})
	}
	return out
}

func (m *roleMembers) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// TestIngressLabelFollowsGossip: a node whose gossip metadata announces the
// ingress role (its proxy listens) is labelled shoal.io/ingress=serving;
// the label goes when the role does.
func TestIngressLabelFollowsGossip(t *testing.T) {
	e := newRSEnv(t)
	members := &roleMembers{roles: map[string][]string{}}
	members.set("edge", membership.RoleWorker, membership.RoleIngress)
	members.set("worker", membership.RoleWorker)
	members.set("control", "voter-eligible")
	nl := &NodeLifecycle{Deps: e.deps, Members: members}
	check := func(step string, want map[string]bool) {
		t.Helper()
		for i := 0; i < 2; i++ { // the first pass registers, the second labels
			e.synced()
			if err := nl.Reconcile(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		for name, serving := range want {
			if got := e.getNode(name).Labels[IngressLabel] == IngressServing; got != serving {
				t.Errorf("%s: node %s labels %v, want serving=%v", step, name, e.getNode(name).Labels, serving)
			}
		}
	}
	check("start", map[string]bool{"edge": true, "worker": false, "control": false})
	members.set("edge", membership.RoleWorker)
	check("role dropped", map[string]bool{"edge": false})
	if _, ok := e.getNode("edge").Labels[IngressLabel]; ok {
		t.Error("the label was kept with another value instead of removed")
	}
}
