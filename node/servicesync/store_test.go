package servicesync

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/follow"
)

// storeWriter applies commands to a store at increasing indexes, as the
// FSM does, so tests and benchmarks drive the store without raft.
type storeWriter struct {
	tb  testing.TB
	st  *consensus.Store
	idx uint64
}

func (w *storeWriter) apply(op consensus.Op, resource, ns, name string, obj any) {
	w.tb.Helper()
	cmd := &consensus.Command{Op: op, Resource: resource, Namespace: ns, Name: name, Time: "2026-01-01T00:00:00Z"}
	if obj != nil {
		raw, err := json.Marshal(obj)
		if err != nil {
			w.tb.Fatalf("encode %s %s/%s: %v", resource, ns, name, err)
		}
		cmd.Object = raw
	}
	if op == consensus.OpCreate {
		cmd.UID = "uid-" + resource + "-" + ns + "-" + name
	}
	w.idx++
	if _, err := w.st.Apply(w.idx, cmd); err != nil {
		w.tb.Fatalf("%v %s %s/%s: %v", op, resource, ns, name, err)
	}
}

func (w *storeWriter) create(resource, ns, name string, obj any) {
	w.tb.Helper()
	w.apply(consensus.OpCreate, resource, ns, name, obj)
}

func (w *storeWriter) update(resource, ns, name string, obj any) {
	w.tb.Helper()
	w.apply(consensus.OpUpdate, resource, ns, name, obj)
}

func (w *storeWriter) delete(resource, ns, name string) {
	w.tb.Helper()
	w.apply(consensus.OpDelete, resource, ns, name, nil)
}

// clusterIPService is a ClusterIP Service with one named TCP port "http".
func clusterIPService(ns, name, ip string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
}

// readyEndpoints is the Endpoints of a Service whose pods pod-0.. have ips,
// all ready, serving port "http" 8080.
func readyEndpoints(ns, name string, ips ...string) *corev1.Endpoints {
	ss := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}
	for i, ip := range ips {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", name, i)}})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Subsets: []corev1.EndpointSubset{ss}}
}

// sliceResource is the store's name of EndpointSlices.
const sliceResource = "endpointslices.discovery.k8s.io"

// sliceEndpoint is one endpoint of a slice: a pod's address, its hostname
// ("" for none) and readiness.
type sliceEndpoint struct {
	ip, hostname, pod string
	ready             bool
}

// endpointSlice is a slice named name of Service svc, as the endpoints
// controller writes it, serving port "http" 8080.
func endpointSlice(ns, svc, name string, eps ...sliceEndpoint) *discoveryv1.EndpointSlice {
	port, pname, proto := int32(8080), "http", corev1.ProtocolTCP
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
	}
	for _, e := range eps {
		ready := e.ready
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod}}
		if e.hostname != "" {
			h := e.hostname
			ep.Hostname = &h
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// readySlice is the one slice of Service name whose pods name-0.. have
// ips, all ready.
func readySlice(ns, name string, ips ...string) *discoveryv1.EndpointSlice {
	var eps []sliceEndpoint
	for i, ip := range ips {
		eps = append(eps, sliceEndpoint{ip: ip, pod: fmt.Sprintf("%s-%d", name, i), ready: true})
	}
	return endpointSlice(ns, name, name+"-abcde", eps...)
}

// runCache runs the shared followers of st until the test ends, as a node
// runs its cache, and waits for them to stop at cleanup.
func runCache(tb testing.TB, st *consensus.Store) *follow.Shared {
	tb.Helper()
	cache := follow.NewShared(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cache.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("cache: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("cache did not stop within 10s")
		}
	})
	return cache
}

// put creates obj through a local proposer, as the API server's writes do.
func put(t *testing.T, p *consensus.LocalProposer, resource, ns, name string, obj any) {
	t.Helper()
	raw, _ := json.Marshal(obj)
	if _, err := p.Propose(context.Background(), &consensus.Command{Op: consensus.OpCreate, Resource: resource, Namespace: ns, Name: name, Object: raw, UID: "u-" + name, Time: "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
}
