package servicesync

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/dnsd"
)

// startResolver runs a Resolver over st's shared caches until the test
// ends, and waits until it answers.
func startResolver(tb testing.TB, st *consensus.Store) *Resolver {
	tb.Helper()
	r := NewResolver(runCache(tb, st))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tb.Cleanup(func() { // before the cache's cleanup: registered after it
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("resolver: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("resolver not ready within 10s")
	}
	return r
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func pod(ns, name string, ips ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}

// dnsState is what a resolver answers for the names and IPs a test asks
// about: the view of each Service (nil: ErrNotFound), the PTR name of each
// IP ("": unknown), whether each "ns/ip" is a pod's, whether each
// namespace exists.
type dnsState struct {
	services   map[string]*dnsd.Service
	ptr        map[string]string
	podIPs     map[string]bool
	namespaces map[string]bool
}

// observe asks r what want asks about.
func observe(r *Resolver, want dnsState) (dnsState, error) {
	var got dnsState // a map where want has one, so DeepEqual compares
	if want.services != nil {
		got.services = map[string]*dnsd.Service{}
	}
	if want.ptr != nil {
		got.ptr = map[string]string{}
	}
	if want.podIPs != nil {
		got.podIPs = map[string]bool{}
	}
	if want.namespaces != nil {
		got.namespaces = map[string]bool{}
	}
	for key := range want.services {
		ns, name, _ := strings.Cut(key, "/")
		svc, err := r.Service(ns, name)
		switch {
		case errors.Is(err, dnsd.ErrNotFound):
			got.services[key] = nil
		case err != nil:
			return got, fmt.Errorf("service %s: %w", key, err)
		default:
			got.services[key] = svc
		}
	}
	for ip := range want.ptr {
		got.ptr[ip], _ = r.ReverseLookup(ip)
	}
	for key := range want.podIPs {
		ns, ip, _ := strings.Cut(key, "/")
		got.podIPs[key] = r.PodIPExists(ns, ip)
	}
	for ns := range want.namespaces {
		got.namespaces[ns] = r.NamespaceExists(ns)
	}
	return got, nil
}

func (s dnsState) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(mapKeys(s.services)) {
		fmt.Fprintf(&b, "\n  service %s: %+v", k, s.services[k])
	}
	for _, k := range slices.Sorted(mapKeys(s.ptr)) {
		fmt.Fprintf(&b, "\n  PTR %s: %q", k, s.ptr[k])
	}
	for _, k := range slices.Sorted(mapKeys(s.podIPs)) {
		fmt.Fprintf(&b, "\n  pod IP %s: %v", k, s.podIPs[k])
	}
	for _, k := range slices.Sorted(mapKeys(s.namespaces)) {
		fmt.Fprintf(&b, "\n  namespace %s: %v", k, s.namespaces[k])
	}
	return b.String()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// webView is the view of web with the given ClusterIP and ready endpoints.
func webView(ip string, eps ...dnsd.Endpoint) *dnsd.Service {
	return &dnsd.Service{Type: dnsd.ServiceTypeClusterIP, ClusterIPs: []string{ip},
		Ports: []dnsd.Port{{Name: "http", Protocol: "TCP", Port: 80}}, Endpoints: eps}
}

// TestResolverFollowsStore: after each step's writes to the store, every
// answer of the resolver is exactly the step's: Services and their ready
// endpoints, PTR names of cluster and pod IPs, pod IPs per namespace and
// namespaces, through creates, updates and deletes in either order of a
// Service and its Endpoints.
func TestResolverFollowsStore(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	w.create("namespaces", "", "default", namespace("default"))
	r := startResolver(t, st) // the rest arrives through the watch

	notReadySlice := func(ns, name string, ready, notReady string) *discoveryv1.EndpointSlice {
		return endpointSlice(ns, name, name+"-abcde", sliceEndpoint{ip: ready, pod: name + "-0", ready: true},
			sliceEndpoint{ip: notReady, pod: name + "-1"})
	}
	headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "prod"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}
	// db's endpoints in two slices, as a Service past 100 endpoints has.
	dbSlice0 := endpointSlice("prod", "db", "db-0abcd", sliceEndpoint{ip: "10.42.1.10", hostname: "db-0", pod: "db-0", ready: true})
	dbSlice1 := endpointSlice("prod", "db", "db-1abcd", sliceEndpoint{ip: "10.42.1.11", hostname: "db-1", pod: "db-1", ready: true})
	dbView := &dnsd.Service{ClusterIPs: []string{"None"}, Ports: []dnsd.Port{{Name: "pg", Protocol: "TCP", Port: 5432}},
		Endpoints: []dnsd.Endpoint{{IP: "10.42.1.10", Hostname: "db-0", PodName: "db-0"}, {IP: "10.42.1.11", Hostname: "db-1", PodName: "db-1"}}}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mail", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "mail.example.test"}}
	web1 := dnsd.Endpoint{IP: "10.42.0.5", PodName: "web-0"}

	for _, step := range []struct {
		name  string
		write func()
		want  dnsState
	}{{
		name: "Service, EndpointSlice (one not ready) and pod created",
		write: func() {
			w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7"))
			w.create(sliceResource, "default", "web-abcde", notReadySlice("default", "web", "10.42.0.5", "10.42.0.6"))
			w.create("pods", "default", "web-0", pod("default", "web-0", "10.42.0.5"))
		},
		want: dnsState{
			services:   map[string]*dnsd.Service{"default/web": webView("10.43.0.7", web1), "default/nope": nil},
			ptr:        map[string]string{"10.43.0.7": "web.default.svc", "10.42.0.5": "10-42-0-5.default.pod", "10.42.0.6": ""},
			podIPs:     map[string]bool{"default/10.42.0.5": true, "prod/10.42.0.5": false, "default/10.42.0.99": false},
			namespaces: map[string]bool{"default": true, "prod": false},
		},
	}, {
		name: "the second address becomes ready",
		write: func() {
			w.update(sliceResource, "default", "web-abcde", readySlice("default", "web", "10.42.0.5", "10.42.0.6"))
		},
		want: dnsState{services: map[string]*dnsd.Service{"default/web": webView("10.43.0.7", web1, dnsd.Endpoint{IP: "10.42.0.6", PodName: "web-1"})}},
	}, {
		name: "EndpointSlices before their Service, in a new namespace",
		write: func() {
			w.create("namespaces", "", "prod", namespace("prod"))
			w.create(sliceResource, "prod", "db-0abcd", dbSlice0)
			w.create(sliceResource, "prod", "db-1abcd", dbSlice1)
			w.create("services", "prod", "db", headless)
		},
		want: dnsState{
			services:   map[string]*dnsd.Service{"prod/db": dbView},
			ptr:        map[string]string{"10.42.1.10": ""}, // no pod of that IP yet
			namespaces: map[string]bool{"prod": true},
		},
	}, {
		name: "Service updated: new ClusterIP, a second port",
		write: func() {
			svc := clusterIPService("default", "web", "10.43.0.8")
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53})
			w.update("services", "default", "web", svc)
		},
		want: dnsState{
			services: map[string]*dnsd.Service{"default/web": {Type: dnsd.ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.8"},
				Ports:     []dnsd.Port{{Name: "http", Protocol: "TCP", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}},
				Endpoints: []dnsd.Endpoint{web1, {IP: "10.42.0.6", PodName: "web-1"}}}},
			ptr: map[string]string{"10.43.0.7": "", "10.43.0.8": "web.default.svc"},
		},
	}, {
		name: "EndpointSlice deleted, ExternalName created",
		write: func() {
			w.update("services", "default", "web", clusterIPService("default", "web", "10.43.0.8"))
			w.delete(sliceResource, "default", "web-abcde")
			w.create("services", "default", "mail", ext)
		},
		want: dnsState{services: map[string]*dnsd.Service{
			"default/web":  webView("10.43.0.8"),
			"default/mail": {Type: dnsd.ServiceTypeExternalName, ExternalName: "mail.example.test"},
		}},
	}, {
		name: "pod IP changes; a dual-stack pod in another namespace",
		write: func() {
			w.update("pods", "default", "web-0", pod("default", "web-0", "10.42.0.9"))
			w.create("pods", "prod", "db-0", pod("prod", "db-0", "10.42.1.10", "fd00:42::a"))
		},
		want: dnsState{
			ptr: map[string]string{"10.42.0.5": "", "10.42.0.9": "10-42-0-9.default.pod", "10.42.1.10": "10-42-1-10.prod.pod",
				"fd00:42::a": "fd00-42--a.prod.pod"},
			podIPs: map[string]bool{"default/10.42.0.5": false, "default/10.42.0.9": true, "prod/fd00:42::a": true, "default/fd00:42::a": false},
		},
	}, {
		name: "Service deleted, its EndpointSlice recreated without it",
		write: func() {
			w.delete("services", "default", "web")
			w.create(sliceResource, "default", "web-abcde", readySlice("default", "web", "10.42.0.9"))
		},
		want: dnsState{
			services: map[string]*dnsd.Service{"default/web": nil, "default/mail": {Type: dnsd.ServiceTypeExternalName, ExternalName: "mail.example.test"}},
			ptr:      map[string]string{"10.43.0.8": "", "10.42.0.9": "10-42-0-9.default.pod"},
		},
	}, {
		name: "Service back; pods, a Service and a namespace deleted",
		write: func() {
			w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7"))
			w.delete("pods", "default", "web-0")
			w.delete("pods", "prod", "db-0")
			w.delete("services", "prod", "db")
			w.delete("namespaces", "", "prod")
		},
		want: dnsState{
			services:   map[string]*dnsd.Service{"default/web": webView("10.43.0.7", dnsd.Endpoint{IP: "10.42.0.9", PodName: "web-0"}), "prod/db": nil},
			ptr:        map[string]string{"10.43.0.7": "web.default.svc", "10.42.0.9": "", "fd00:42::a": ""},
			podIPs:     map[string]bool{"default/10.42.0.9": false, "prod/fd00:42::a": false},
			namespaces: map[string]bool{"default": true, "prod": false},
		},
	}} {
		step.write()
		// The caches follow the store on their own goroutines: wait for
		// the step's state, then it must be exactly the step's.
		var got dnsState
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got, err = observe(r, step.want)
			if err == nil && reflect.DeepEqual(got, step.want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after 5s (error %v) the resolver answers%s\nwant%s", step.name, err, got, step.want)
			}
		}
	}
}

// TestResolverNotReady: before the caches have listed, a Service query
// fails (SERVFAIL, retried) instead of answering NXDOMAIN.
func TestResolverNotReady(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7"))
	r := NewResolver(runCache(t, st)) // not run
	if _, err := r.Service("default", "web"); err == nil || errors.Is(err, dnsd.ErrNotFound) {
		t.Fatalf("Service before Run: %v, want a failure that is not ErrNotFound", err)
	}
}

// TestResolverVersion: the version moves after each change a query could
// see (a Service, a slice, a pod's IPs, a namespace) and stays put for a
// pod update that changes no IP, so that dnsd's packed answers outlive
// the status updates that make most pod events.
func TestResolverVersion(t *testing.T) {
	st := consensus.NewStore()
	w := &storeWriter{tb: t, st: st}
	w.create("namespaces", "", "default", namespace("default"))
	w.create("pods", "default", "web-0", pod("default", "web-0", "10.42.0.5"))
	r := startResolver(t, st)
	// moves waits until the resolver reflects the write (probe), then
	// reports whether the version changed.
	moves := func(write func(), probe func() bool) bool {
		t.Helper()
		before := r.Version()
		write()
		for deadline := time.Now().Add(5 * time.Second); !probe(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the resolver did not follow the write within 5s")
			}
		}
		return r.Version() != before
	}
	svcIs := func(ip string, eps int) func() bool {
		return func() bool {
			s, err := r.Service("default", "web")
			return err == nil && len(s.ClusterIPs) == 1 && s.ClusterIPs[0] == ip && len(s.Endpoints) == eps
		}
	}
	for _, step := range []struct {
		name  string
		write func()
		probe func() bool
		moves bool
	}{
		{"Service created", func() { w.create("services", "default", "web", clusterIPService("default", "web", "10.43.0.7")) }, svcIs("10.43.0.7", 0), true},
		{"slice created", func() { w.create(sliceResource, "default", "web-abcde", readySlice("default", "web", "10.42.0.5")) }, svcIs("10.43.0.7", 1), true},
		{"slice moved to another Service", func() {
			w.update(sliceResource, "default", "web-abcde", endpointSlice("default", "other", "web-abcde", sliceEndpoint{ip: "10.42.0.5", ready: true}))
		}, svcIs("10.43.0.7", 0), true},
		{"pod status without an IP change", func() {
			p := pod("default", "web-0", "10.42.0.5")
			p.Status.Phase = corev1.PodRunning
			w.update("pods", "default", "web-0", p)
			w.create("namespaces", "", "marker", namespace("marker")) // moves; probed below
		}, func() bool { return r.NamespaceExists("marker") }, true},
		{"pod IP changed", func() { w.update("pods", "default", "web-0", pod("default", "web-0", "10.42.0.6")) },
			func() bool { return r.PodIPExists("default", "10.42.0.6") }, true},
	} {
		if got := moves(step.write, step.probe); got != step.moves {
			t.Errorf("%s: version moved %v, want %v", step.name, got, step.moves)
		}
	}
	// The status update alone: the namespace marker above proved the
	// caches past it; one more status write must leave the version alone.
	before := r.Version()
	p := pod("default", "web-0", "10.42.0.6")
	p.Status.Phase = corev1.PodSucceeded
	w.update("pods", "default", "web-0", p)
	w.update(sliceResource, "default", "web-abcde", endpointSlice("default", "other", "web-abcde", sliceEndpoint{ip: "10.42.0.7", ready: true}))
	for deadline := time.Now().Add(5 * time.Second); r.Version() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slice update did not move the version within 5s")
		}
	}
	// Caches apply events in order per resource, not across resources:
	// give the pods' cache time to apply its update, then the version must
	// have moved once, for the slice.
	time.Sleep(100 * time.Millisecond)
	if got := r.Version() - before; got != 1 {
		t.Errorf("a pod status update and a slice update moved the version by %d, want 1 (the slice's)", got)
	}
}
