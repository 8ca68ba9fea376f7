package servicesync

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/dnsd"
)

func put(t *testing.T, p *consensus.LocalProposer, resource, ns, name string, obj any) {
	t.Helper()
	raw, _ := json.Marshal(obj)
	if _, err := p.Propose(context.Background(), &consensus.Command{Op: consensus.OpCreate, Resource: resource, Namespace: ns, Name: name, Object: raw, UID: "u-" + name, Time: "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
}

func TestResolverFromStore(t *testing.T) {
	st := consensus.NewStore()
	p := consensus.NewLocalProposer(st)
	put(t, p, "namespaces", "", "default", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	put(t, p, "services", "default", "web", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.7", ClusterIPs: []string{"10.43.0.7"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	put(t, p, "endpoints", "default", "web", &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.42.0.5", TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.42.0.6"}},
		}}})
	put(t, p, "pods", "default", "web-1", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"}, Status: corev1.PodStatus{PodIP: "10.42.0.5"}})

	r := &Resolver{Store: st}
	svc, err := r.Service("default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Type != dnsd.ServiceTypeClusterIP || svc.ClusterIPs[0] != "10.43.0.7" || svc.Ports[0].Protocol != "TCP" {
		t.Fatalf("service %+v", svc)
	}
	if len(svc.Endpoints) != 1 || svc.Endpoints[0].IP != "10.42.0.5" || svc.Endpoints[0].PodName != "web-1" {
		t.Fatalf("endpoints %+v: want only the ready one", svc.Endpoints)
	}
	if _, err := r.Service("default", "nope"); !errors.Is(err, dnsd.ErrNotFound) {
		t.Fatalf("missing service: %v", err)
	}
	if name, ok := r.ReverseLookup("10.43.0.7"); !ok || name != "web.default.svc" {
		t.Fatalf("PTR of the ClusterIP: %q %v", name, ok)
	}
	if name, ok := r.ReverseLookup("10.42.0.5"); !ok || name != "10-42-0-5.default.pod" {
		t.Fatalf("PTR of the pod IP: %q %v", name, ok)
	}
	if !r.PodIPExists("default", "10.42.0.5") || r.PodIPExists("default", "10.42.0.99") {
		t.Fatal("PodIPExists")
	}
	if !r.NamespaceExists("default") || r.NamespaceExists("nope") {
		t.Fatal("NamespaceExists")
	}
}
