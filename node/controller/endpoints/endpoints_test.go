package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/node/controller/controllertest"
)

func epPod(name, ip string, ready bool, labels map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func TestEndpointsFor(t *testing.T) {
	web := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: web, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
		}},
	}
	deleted := epPod("gone", "10.42.0.9", true, web, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	deleted.DeletionTimestamp = &metav1.Time{}
	pods := []corev1.Pod{
		epPod("b", "10.42.0.3", true, web, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		epPod("a", "10.42.0.2", true, web, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		epPod("slow", "10.42.0.4", false, web, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		epPod("other-port", "10.42.0.5", true, web, corev1.ContainerPort{Name: "http", ContainerPort: 9090}),
		epPod("unnamed", "10.42.0.6", true, web),
		epPod("no-ip", "", true, web, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		epPod("other-app", "10.42.0.7", true, map[string]string{"app": "db"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		deleted,
	}
	got := EndpointsFor(svc, pods)
	if len(got) != 2 {
		t.Fatalf("%d subsets, want 2 (port 8080 and port 9090): %+v", len(got), got)
	}
	s := got[0]
	if s.Ports[0].Port != 8080 {
		s, got[1] = got[1], s
	}
	if s.Ports[0].Port != 8080 || s.Ports[0].Name != "http" || s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("ports %+v", s.Ports)
	}
	if len(s.Addresses) != 2 || s.Addresses[0].IP != "10.42.0.2" || s.Addresses[1].IP != "10.42.0.3" {
		t.Fatalf("ready addresses %+v, want 10.42.0.2 and 10.42.0.3 in order", s.Addresses)
	}
	if len(s.NotReadyAddresses) != 1 || s.NotReadyAddresses[0].IP != "10.42.0.4" {
		t.Fatalf("not-ready addresses %+v, want 10.42.0.4", s.NotReadyAddresses)
	}
	if ref := s.Addresses[0].TargetRef; ref == nil || ref.Kind != "Pod" || ref.Name != "a" || *s.Addresses[0].NodeName != "node-a" {
		t.Fatalf("targetRef %+v", ref)
	}
	if o := got[1]; o.Ports[0].Port != 9090 || len(o.Addresses) != 1 || o.Addresses[0].IP != "10.42.0.5" {
		t.Fatalf("second subset %+v", o)
	}

	// A numeric targetPort (and none: the service port) needs no pod port.
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "metrics", Port: 9100}}
	got = EndpointsFor(svc, pods)
	if len(got) != 1 || len(got[0].Addresses) != 4 || got[0].Ports[0].Port != 8080 || got[0].Ports[1].Port != 9100 {
		t.Fatalf("numeric target ports: %+v", got)
	}
}

func TestSlicePortMappings(t *testing.T) {
	node := "node-a"
	subsets := []corev1.EndpointSubset{{
		Addresses:         []corev1.EndpointAddress{{IP: "10.42.0.2", NodeName: &node}},
		NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.42.0.3"}},
		Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
	}, {
		Addresses: []corev1.EndpointAddress{{IP: "10.42.0.4"}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 9090, Protocol: corev1.ProtocolTCP}},
	}}
	got := slicePortMappings(subsets)
	if len(got) != 2 {
		t.Fatalf("%d port mappings, want 2 (8080 and 9090)", len(got))
	}
	m := got["http/TCP/8080,"]
	if m == nil || len(m.ports) != 1 || *m.ports[0].Port != 8080 || *m.ports[0].Name != "http" {
		t.Fatalf("mappings %v", got)
	}
	if len(m.endpoints) != 2 || !*m.endpoints[0].Conditions.Ready || *m.endpoints[1].Conditions.Ready || *m.endpoints[0].NodeName != "node-a" {
		t.Fatalf("endpoints %+v", m.endpoints)
	}
	if o := got["http/TCP/9090,"]; o == nil || len(o.endpoints) != 1 || o.endpoints[0].Addresses[0] != "10.42.0.4" {
		t.Fatalf("second mapping %+v", o)
	}
}

// TestEndpointsLoop: the controller, reading the node's cache, writes the
// Endpoints and EndpointSlice of a Service, follows its pods' readiness,
// and removes both once the Service is gone.
func TestEndpointsLoop(t *testing.T) {
	e := controllertest.New(t)
	c := &Controller{Deps: e.Deps, Resync: time.Hour}
	ready := make(chan struct{})
	close(ready)
	e.RunLoop("endpoints", c.Run, ready)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := e.CS.CoreV1().Services("default").Create(e.Ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.BoundPod("web", "n1")
	p, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.PodIP = "10.42.0.2"
	if _, err := e.CS.CoreV1().Pods("default").UpdateStatus(e.Ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	addresses := func(ready bool) error {
		ep, err := e.CS.CoreV1().Endpoints("default").Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		got := ep.Subsets[0].Addresses
		if !ready {
			got = ep.Subsets[0].NotReadyAddresses
		}
		if len(got) != 1 || got[0].IP != "10.42.0.2" || ep.Subsets[0].Ports[0].Port != 8080 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		l, err := e.CS.DiscoveryV1().EndpointSlices("default").List(e.Ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if err != nil {
			return err
		}
		if len(l.Items) != 1 || len(l.Items[0].Endpoints) != 1 || *l.Items[0].Endpoints[0].Conditions.Ready != ready {
			return fmt.Errorf("slices %+v", l.Items)
		}
		return nil
	}
	e.Eventually(10*time.Second, func() error { return addresses(true) })
	e.SetReady("web", false, e.Clock.Now())
	e.Eventually(10*time.Second, func() error { return addresses(false) })

	if err := e.CS.CoreV1().Services("default").Delete(e.Ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		if _, err := e.CS.CoreV1().Endpoints("default").Get(e.Ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpoints of a deleted service: %v", err)
		}
		l, err := e.CS.DiscoveryV1().EndpointSlices("default").List(e.Ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if err != nil || len(l.Items) > 0 {
			return fmt.Errorf("endpointslices of a deleted service: %v %v", l, err)
		}
		return nil
	})
}

// TestEndpointHostname: an endpoint carries the pod's hostname only when
// the pod's subdomain names the Service in its own namespace (Kubernetes'
// rule), in the Endpoints and in the EndpointSlice alike.
func TestEndpointHostname(t *testing.T) {
	sel := map[string]string{"app": "db"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: sel, ClusterIP: "None", Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}
	for _, tc := range []struct {
		name                string
		hostname, subdomain string
		namespace           string
		want                string
	}{
		{"hostname and subdomain of the service", "db-0", "db", "default", "db-0"},
		{"no hostname", "", "db", "default", ""},
		{"no subdomain", "db-0", "", "default", ""},
		{"subdomain of another service", "db-0", "web", "default", ""},
		{"same names in another namespace", "db-0", "db", "other", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := epPod("db-0", "10.42.0.2", true, sel)
			p.Namespace = tc.namespace
			p.Spec.Hostname, p.Spec.Subdomain = tc.hostname, tc.subdomain
			got := EndpointsFor(svc, []corev1.Pod{p})
			if tc.namespace != svc.Namespace {
				if len(got) != 0 {
					t.Fatalf("a pod of another namespace became an endpoint: %+v", got)
				}
				if h := endpointHostname(svc, &p); h != "" {
					t.Fatalf("endpointHostname = %q, want none", h)
				}
				return
			}
			if len(got) != 1 || len(got[0].Addresses) != 1 {
				t.Fatalf("subsets %+v, want one address", got)
			}
			if h := got[0].Addresses[0].Hostname; h != tc.want {
				t.Fatalf("Endpoints hostname %q, want %q", h, tc.want)
			}
			m := slicePortMappings(got)["pg/TCP/5432,"]
			if m == nil || len(m.endpoints) != 1 {
				t.Fatalf("slice mappings %+v", slicePortMappings(got))
			}
			switch h := m.endpoints[0].Hostname; {
			case tc.want == "" && h != nil:
				t.Fatalf("slice endpoint hostname %q, want none", *h)
			case tc.want != "" && (h == nil || *h != tc.want):
				t.Fatalf("slice endpoint hostname %v, want %q", h, tc.want)
			}
		})
	}
}
