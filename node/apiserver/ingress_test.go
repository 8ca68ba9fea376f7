package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
)

func testIngress(name string, class *string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: class,
			Rules: []networkingv1.IngressRule{{Host: "app.example.test", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}},
			}}},
		},
	}
}

func testIngressClass(name string, isDefault bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"}}
	if isDefault {
		c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return c
}

// TestIngressAPI serves networking.k8s.io/v1 through client-go: the
// default class is filled in on create (DefaultIngressClass admission),
// the status subresource takes only status, and a bad Ingress is refused
// with Kubernetes' field paths.
func TestIngressAPI(t *testing.T) {
	e := newTestEnv(t)
	ings := e.cs.NetworkingV1().Ingresses("default")
	classes := e.cs.NetworkingV1().IngressClasses()

	// No class yet: the Ingress stays without one.
	plain, err := ings.Create(e.ctx, testIngress("before", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Spec.IngressClassName != nil || plain.Generation != 1 {
		t.Errorf("before any class: class %v generation %d", plain.Spec.IngressClassName, plain.Generation)
	}
	if _, err := classes.Create(e.ctx, testIngressClass("shoal", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := ings.Create(e.ctx, testIngress("app", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Spec.IngressClassName; c == nil || *c != "shoal" {
		t.Errorf("class %v, want the default class shoal", c)
	}
	annotated := testIngress("annotated", nil)
	annotated.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
	if a, err := ings.Create(e.ctx, annotated, metav1.CreateOptions{}); err != nil {
		t.Errorf("annotated Ingress: %v", err)
	} else if a.Spec.IngressClassName != nil {
		t.Errorf("annotated Ingress got class %q; want it left without ingressClassName", *a.Spec.IngressClassName)
	}

	// Status: only the status changes.
	got.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.11"}}
	got.Spec.Rules[0].Host = "sneaky.example.test"
	st, err := ings.UpdateStatus(e.ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Status.LoadBalancer.Ingress) != 1 || st.Spec.Rules[0].Host != "app.example.test" || st.Generation != 1 {
		t.Errorf("status update: status %+v host %q generation %d", st.Status, st.Spec.Rules[0].Host, st.Generation)
	}

	// Table: kubectl's columns.
	rep := e.do("GET", "/apis/networking.k8s.io/v1/namespaces/default/ingresses/app", "", nil, "Accept", tableAccept)
	var tbl metav1.Table
	if err := json.Unmarshal(rep.body, &tbl); err != nil || rep.code != http.StatusOK {
		t.Fatalf("table: %d %v %s", rep.code, err, rep.body)
	}
	var cols []string
	for _, c := range tbl.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"Name", "Class", "Hosts", "Address", "Ports", "Age"}) || len(tbl.Rows) != 1 {
		t.Fatalf("table columns %v rows %d", cols, len(tbl.Rows))
	}
	if c := tbl.Rows[0].Cells; c[1] != "shoal" || c[2] != "app.example.test" || c[3] != "192.0.2.11" || c[4] != "80" {
		t.Errorf("row %v", c)
	}

	// Validation errors come back as 422 with field paths.
	bad := testIngress("bad", nil)
	bad.Spec.Rules[0].HTTP.Paths[0].PathType = nil
	bad.Spec.Rules[0].Host = "192.0.2.1"
	_, err = ings.Create(e.ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.rules[0].http.paths[0].pathType: Required value") ||
		!strings.Contains(err.Error(), `spec.rules[0].host: Invalid value: "192.0.2.1": must be a DNS name, not an IP address`) {
		t.Errorf("bad Ingress: %v", err)
	}

	// Several default classes: the newest wins, then the first by name
	// (kube-apiserver's DefaultIngressClass since 1.29), never a 403.
	prop := consensus.NewLocalProposer(e.store)
	putClass := func(name, created string) {
		t.Helper()
		raw, err := json.Marshal(testIngressClass(name, true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prop.Propose(e.ctx, &consensus.Command{Op: consensus.OpCreate, Resource: "ingressclasses.networking.k8s.io",
			Name: name, Object: raw, UID: "u-" + name, Time: created}); err != nil {
			t.Fatal(err)
		}
	}
	putClass("older", "2001-01-01T00:00:00Z")
	putClass("newer", "2100-01-01T00:00:00Z")
	for _, want := range []string{"newer", "a-tie"} {
		if want == "a-tie" {
			putClass("b-tie", "2200-01-01T00:00:00Z")
			putClass("a-tie", "2200-01-01T00:00:00Z")
		}
		got, err := ings.Create(e.ctx, testIngress("classless-"+want, nil), metav1.CreateOptions{})
		if err != nil {
			t.Errorf("class-less Ingress with several default classes: %v", err)
		} else if c := got.Spec.IngressClassName; c == nil || *c != want {
			t.Errorf("class-less Ingress got class %v, want %s", c, want)
		}
	}
	if _, err := ings.Create(e.ctx, testIngress("explicit", ptr.To("older")), metav1.CreateOptions{}); err != nil {
		t.Errorf("explicit class with several defaults: %v", err)
	}
}

func TestIngressDiscovery(t *testing.T) {
	e := newTestEnv(t)
	var l metav1.APIResourceList
	e.getJSON("/apis/networking.k8s.io/v1", &l)
	found := map[string]metav1.APIResource{}
	for _, r := range l.APIResources {
		found[r.Name] = r
	}
	if r := found["ingresses"]; !r.Namespaced || !slices.Equal(r.ShortNames, []string{"ing"}) || r.Kind != "Ingress" {
		t.Errorf("ingresses %+v", r)
	}
	if _, ok := found["ingresses/status"]; !ok {
		t.Error("no ingresses/status")
	}
	if r := found["ingressclasses"]; r.Namespaced || r.Kind != "IngressClass" {
		t.Errorf("ingressclasses %+v", r)
	}
	var groups metav1.APIGroupList
	e.getJSON("/apis", &groups)
	if !slices.ContainsFunc(groups.Groups, func(g metav1.APIGroup) bool { return g.Name == "networking.k8s.io" }) {
		t.Errorf("/apis lacks networking.k8s.io: %+v", groups.Groups)
	}
}

// TestStatusUpdatesValidated: a write to /status is checked
// (ValidateIngressStatusUpdate, ValidateServiceStatusUpdate) and an update
// of the main resource ignores the status it keeps anyway, so a bad stored
// status (from before this check) never blocks a label change.
func TestStatusUpdatesValidated(t *testing.T) {
	e := newTestEnv(t)
	ings := e.cs.NetworkingV1().Ingresses("default")
	ing, err := ings.Create(e.ctx, testIngress("app", ptr.To("shoal")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "not-an-ip"}}
	_, err = ings.UpdateStatus(e.ctx, ing, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip": must be a valid IP address`) {
		t.Errorf("ingress status with a bad IP: %v, want 422 on status.loadBalancer.ingress[0].ip", err)
	}

	svcs := e.cs.CoreV1().Services("default")
	svc, err := svcs.Create(e.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "not-an-ip"}}
	_, err = svcs.UpdateStatus(e.ctx, svc, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip"`) {
		t.Errorf("service status with a bad IP: %v, want 422", err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	if st, err := svcs.UpdateStatus(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Errorf("service status: %v", err)
	} else if m := st.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
		t.Errorf("service status ipMode %v, want VIP (defaulted)", m)
	}

	// A bad status stored without the check: label changes still go through.
	prop := consensus.NewLocalProposer(e.store)
	for _, c := range []struct {
		resource string
		obj      runtime.Object
	}{
		{"ingresses.networking.k8s.io", withBadIngressStatus(ing)},
		{"services", withBadServiceStatus(svc)},
	} {
		raw, err := json.Marshal(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prop.Propose(e.ctx, &consensus.Command{Op: consensus.OpUpdate, Resource: c.resource, Namespace: "default",
			Name: objectMeta(c.obj).Name, Object: raw, Subresource: consensus.SubresourceStatus}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := ings.Get(e.ctx, "app", metav1.GetOptions{})
	if err != nil || len(cur.Status.LoadBalancer.Ingress) != 1 || cur.Status.LoadBalancer.Ingress[0].IP != "not-an-ip" {
		t.Fatalf("stored ingress status: %+v %v", cur.Status, err)
	}
	cur.Labels = map[string]string{"tier": "web"}
	if _, err := ings.Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Errorf("ingress label change over a bad stored status: %v", err)
	}
	curSvc, err := svcs.Get(e.ctx, "lb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	curSvc.Labels = map[string]string{"tier": "web"}
	if _, err := svcs.Update(e.ctx, curSvc, metav1.UpdateOptions{}); err != nil {
		t.Errorf("service label change over a bad stored status: %v", err)
	}
	// Kubernetes keeps accepting an IP the stored status already holds.
	cur, _ = ings.Get(e.ctx, "app", metav1.GetOptions{})
	cur.Status.LoadBalancer.Ingress = append(cur.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{IP: "192.0.2.2"})
	if _, err := ings.UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Errorf("status keeping the stored bad IP: %v", err)
	}
}

func withBadIngressStatus(ing *networkingv1.Ingress) *networkingv1.Ingress {
	c := ing.DeepCopy()
	c.ResourceVersion = ""
	c.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "not-an-ip"}}
	return c
}

func withBadServiceStatus(svc *corev1.Service) *corev1.Service {
	c := svc.DeepCopy()
	c.ResourceVersion = ""
	c.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "not-an-ip", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
	return c
}
