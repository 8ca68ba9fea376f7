package servicesync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/dnsd"
	"github.com/shoal-project/shoal/node/follow"
)

// Resolver answers dnsd from the node's shared follow caches. A query
// decodes nothing and scans nothing: each Service's DNS view is built once
// per change of the Service or its Endpoints and kept in a map, pod IPs
// and cluster IPs are looked up in the caches' indexes, and namespaces in
// their cache.
//
// Endpoints, not EndpointSlices, are the source: they carry the hostnames
// of a StatefulSet's pods, which the slices shoal writes do not.
type Resolver struct {
	services   *follow.Follower[corev1.Service]
	endpoints  *follow.Follower[corev1.Endpoints]
	pods       *follow.Follower[corev1.Pod]
	namespaces *follow.Follower[corev1.Namespace]

	ready  chan struct{}
	synced atomic.Bool // ready is closed; cheaper to read per query

	// rebuildMu serializes rebuilds. Each reads the Service and its
	// Endpoints from the caches and stores the view under it, and a cache
	// changes before its handler runs, so the last rebuild of a Service
	// sees the latest of both: a rebuild for the Service's change and one
	// for its Endpoints' change, racing on two followers' goroutines,
	// cannot leave the older view behind.
	rebuildMu sync.Mutex
	mu        sync.RWMutex             // guards views for the queries
	views     map[svcKey]*dnsd.Service // immutable once stored
}

// svcKey names a Service; a struct, so a query's map lookup allocates no
// "namespace/name" string.
type svcKey struct{ namespace, name string }

var _ dnsd.Resolver = (*Resolver)(nil)

// errNotReady turns a query that arrives before the caches hold their
// first list into SERVFAIL, which clients retry, rather than an NXDOMAIN
// they would cache.
var errNotReady = errors.New("dns view not ready: the caches have not listed yet")

// NewResolver returns a resolver over cache's Services, Endpoints, pods
// and namespaces. It answers once Run has made the views (Ready).
func NewResolver(cache *follow.Shared) *Resolver {
	r := &Resolver{
		services:   follow.For[corev1.Service](cache, "services"),
		endpoints:  follow.For[corev1.Endpoints](cache, "endpoints"),
		pods:       follow.For[corev1.Pod](cache, "pods"),
		namespaces: follow.For[corev1.Namespace](cache, "namespaces"),
		ready:      make(chan struct{}),
		views:      make(map[svcKey]*dnsd.Service),
	}
	r.services.AddIndex(follow.IndexServicesByIP, follow.ServicesByIP)
	r.pods.AddIndex(follow.IndexPodsByIP, follow.PodsByIP)
	return r
}

// Run keeps the views in step with the caches until ctx ends. It may be
// called once.
func (r *Resolver) Run(ctx context.Context) error {
	onService := func(s *corev1.Service) { r.rebuild(s.Namespace, s.Name) }
	onEndpoints := func(e *corev1.Endpoints) { r.rebuild(e.Namespace, e.Name) }
	defer r.services.AddHandler(follow.Handler[corev1.Service]{
		Add:    onService,
		Update: func(_, s *corev1.Service) { onService(s) },
		Delete: onService,
	})()
	defer r.endpoints.AddHandler(follow.Handler[corev1.Endpoints]{
		Add:    onEndpoints,
		Update: func(_, e *corev1.Endpoints) { onEndpoints(e) },
		Delete: onEndpoints,
	})()
	// Once the Services are listed their handler has built every view.
	if !follow.WaitReady(ctx, r.services, r.endpoints, r.pods, r.namespaces) {
		return nil
	}
	r.synced.Store(true)
	close(r.ready)
	<-ctx.Done()
	return nil
}

// Ready is closed once the views reflect the caches' first lists.
func (r *Resolver) Ready() <-chan struct{} { return r.ready }

// rebuild makes the view of Service namespace/name from the caches, or
// drops it when the Service is gone.
func (r *Resolver) rebuild(namespace, name string) {
	r.rebuildMu.Lock()
	defer r.rebuildMu.Unlock()
	var view *dnsd.Service
	if svc, ok := r.services.Get(namespace, name); ok {
		eps, _ := r.endpoints.Get(namespace, name)
		view = serviceView(svc, eps)
	}
	k := svcKey{namespace, name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if view == nil {
		delete(r.views, k)
	} else {
		r.views[k] = view
	}
}

// serviceView is the DNS view of svc; its endpoints are the ready
// addresses of eps (nil: none). It shares nothing with the cached objects.
func serviceView(svc *corev1.Service, eps *corev1.Endpoints) *dnsd.Service {
	out := &dnsd.Service{
		Type:         dnsd.ServiceType(svc.Spec.Type),
		ClusterIPs:   slices.Clone(svc.Spec.ClusterIPs),
		ExternalName: svc.Spec.ExternalName,
	}
	if len(out.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		out.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	for _, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		out.Ports = append(out.Ports, dnsd.Port{Name: p.Name, Protocol: proto, Port: p.Port})
	}
	if eps == nil {
		return out
	}
	for _, s := range eps.Subsets {
		for _, a := range s.Addresses {
			e := dnsd.Endpoint{IP: a.IP, Hostname: a.Hostname}
			if a.TargetRef != nil {
				e.PodName = a.TargetRef.Name
			}
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	return out
}

// Service returns the view of Service namespace/name. Endpoints are the
// ready ones. The view is shared: dnsd only reads it.
func (r *Resolver) Service(namespace, name string) (*dnsd.Service, error) {
	if !r.synced.Load() {
		return nil, errNotReady
	}
	r.mu.RLock()
	view, ok := r.views[svcKey{namespace, name}]
	r.mu.RUnlock()
	if !ok {
		return nil, dnsd.ErrNotFound
	}
	return view, nil
}

// PodIPExists says whether a pod of namespace has ip.
func (r *Resolver) PodIPExists(namespace, ip string) bool {
	for _, p := range r.pods.ByIndex(follow.IndexPodsByIP, ip) {
		if p.Namespace == namespace {
			return true
		}
	}
	return false
}

// ReverseLookup names a ClusterIP ("svc.ns.svc") or a pod IP
// ("a-b-c-d.ns.pod"). An IP held by several objects gets the first by
// namespace and name, a Service before a pod.
func (r *Resolver) ReverseLookup(ip string) (string, bool) {
	if svcs := r.services.ByIndex(follow.IndexServicesByIP, ip); len(svcs) > 0 {
		return svcs[0].Name + "." + svcs[0].Namespace + ".svc", true
	}
	if pods := r.pods.ByIndex(follow.IndexPodsByIP, ip); len(pods) > 0 {
		// The dashed form dnsd's pod zone answers: 10-42-0-5, fd00--5.
		return strings.NewReplacer(".", "-", ":", "-").Replace(ip) + "." + pods[0].Namespace + ".pod", true
	}
	return "", false
}

// NamespaceExists says whether the namespace exists.
func (r *Resolver) NamespaceExists(namespace string) bool {
	_, ok := r.namespaces.Get("", namespace)
	return ok
}
