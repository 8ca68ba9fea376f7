package servicesync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoal-project/shoal/dnsd"
	"github.com/shoal-project/shoal/node/follow"
)

// Resolver answers dnsd from the node's shared follow caches. A query
// decodes nothing and scans nothing: each Service's DNS view is built once
// per change of the Service or its EndpointSlices and kept in a map, pod
// IPs and cluster IPs are looked up in the caches' indexes, and namespaces
// in their cache.
//
// EndpointSlices are the source, as for CoreDNS's kubernetes plugin: a
// Service's slices (at most 100 endpoints each) change one at a time, and
// they carry the hostnames of a StatefulSet's pods.
//
// Version counts the changes that can alter an answer, so that dnsd may
// keep packed answers until the next one (dnsd.Versioned).
type Resolver struct {
	services   *follow.Follower[corev1.Service]
	slices     *follow.Follower[discoveryv1.EndpointSlice]
	pods       *follow.Follower[corev1.Pod]
	namespaces *follow.Follower[corev1.Namespace]

	// version is bumped after every change a query could see; see Version.
	version atomic.Uint64

	ready  chan struct{}
	synced atomic.Bool // ready is closed; cheaper to read per query

	// rebuildMu serializes rebuilds. Each reads the Service and its
	// slices from the caches and stores the view under it, and a cache
	// changes before its handler runs, so the last rebuild of a Service
	// sees the latest of all: a rebuild for the Service's change and one
	// for a slice's change, racing on two followers' goroutines, cannot
	// leave the older view behind.
	rebuildMu sync.Mutex
	mu        sync.RWMutex             // guards views for the queries
	views     map[svcKey]*dnsd.Service // immutable once stored
}

// svcKey names a Service; a struct, so a query's map lookup allocates no
// "namespace/name" string.
type svcKey struct{ namespace, name string }

var (
	_ dnsd.Resolver  = (*Resolver)(nil)
	_ dnsd.Versioned = (*Resolver)(nil)
)

// errNotReady turns a query that arrives before the caches hold their
// first list into SERVFAIL, which clients retry, rather than an NXDOMAIN
// they would cache.
var errNotReady = errors.New("dns view not ready: the caches have not listed yet")

// NewResolver returns a resolver over cache's Services, EndpointSlices,
// pods and namespaces. It answers once Run has made the views (Ready).
func NewResolver(cache *follow.Shared) *Resolver {
	r := &Resolver{
		services:   follow.For[corev1.Service](cache, "services"),
		slices:     follow.For[discoveryv1.EndpointSlice](cache, "endpointslices.discovery.k8s.io"),
		pods:       follow.For[corev1.Pod](cache, "pods"),
		namespaces: follow.For[corev1.Namespace](cache, "namespaces"),
		ready:      make(chan struct{}),
		views:      make(map[svcKey]*dnsd.Service),
	}
	r.services.AddIndex(follow.IndexServicesByIP, follow.ServicesByIP)
	r.pods.AddIndex(follow.IndexPodsByIP, follow.PodsByIP)
	r.slices.AddIndex(follow.IndexSlicesByService, follow.SlicesByService)
	return r
}

// Run keeps the views in step with the caches until ctx ends. It may be
// called once.
func (r *Resolver) Run(ctx context.Context) error {
	onService := func(s *corev1.Service) { r.rebuild(s.Namespace, s.Name) }
	onSlice := func(s *discoveryv1.EndpointSlice) {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			r.rebuild(s.Namespace, name)
		}
	}
	defer r.services.AddHandler(follow.Handler[corev1.Service]{
		Add:    onService,
		Update: func(_, s *corev1.Service) { onService(s) },
		Delete: onService,
	})()
	defer r.slices.AddHandler(follow.Handler[discoveryv1.EndpointSlice]{
		Add: onSlice,
		Update: func(old, s *discoveryv1.EndpointSlice) {
			onSlice(s)
			if old.Labels[discoveryv1.LabelServiceName] != s.Labels[discoveryv1.LabelServiceName] {
				onSlice(old) // moved to another Service: the old one loses it
			}
		},
		Delete: onSlice,
	})()
	// PTR and pod names read the pods' and namespaces' caches directly;
	// only a change of what they index moves the version, not the status
	// updates that make most pod events.
	defer r.pods.AddHandler(follow.Handler[corev1.Pod]{
		Add: func(*corev1.Pod) { r.version.Add(1) },
		Update: func(old, p *corev1.Pod) {
			if old.Namespace != p.Namespace || !slices.Equal(follow.PodsByIP(old), follow.PodsByIP(p)) {
				r.version.Add(1)
			}
		},
		Delete: func(*corev1.Pod) { r.version.Add(1) },
	})()
	defer r.namespaces.AddHandler(follow.Handler[corev1.Namespace]{
		Add:    func(*corev1.Namespace) { r.version.Add(1) },
		Delete: func(*corev1.Namespace) { r.version.Add(1) },
	})()
	// Once the Services are listed their handler has built every view.
	if !follow.WaitReady(ctx, r.services, r.slices, r.pods, r.namespaces) {
		return nil
	}
	r.version.Add(1)
	r.synced.Store(true)
	close(r.ready)
	<-ctx.Done()
	return nil
}

// Version implements dnsd.Versioned: it moves after every change of a
// view, a pod's IPs or a namespace, once the change is visible to
// queries.
func (r *Resolver) Version() uint64 { return r.version.Load() }

// Ready is closed once the views reflect the caches' first lists.
func (r *Resolver) Ready() <-chan struct{} { return r.ready }

// rebuild makes the view of Service namespace/name from the caches, or
// drops it when the Service is gone.
func (r *Resolver) rebuild(namespace, name string) {
	r.rebuildMu.Lock()
	defer r.rebuildMu.Unlock()
	var view *dnsd.Service
	if svc, ok := r.services.Get(namespace, name); ok {
		view = serviceView(svc, r.slices.ByIndex(follow.IndexSlicesByService, follow.Key(namespace, name)))
	}
	k := svcKey{namespace, name}
	r.mu.Lock()
	if view == nil {
		delete(r.views, k)
	} else {
		r.views[k] = view
	}
	r.mu.Unlock()
	// After the view is in place: a cache of answers made at the old
	// version is dropped at the next query.
	r.version.Add(1)
}

// serviceView is the DNS view of svc; its endpoints are the ready
// endpoints of its slices (sorted by name, so the view is stable), each
// address once. It shares nothing with the cached objects.
func serviceView(svc *corev1.Service, eps []*discoveryv1.EndpointSlice) *dnsd.Service {
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
	seen := map[dnsd.Endpoint]bool{}
	for _, s := range eps {
		for _, e := range s.Endpoints {
			// Kubernetes: a nil ready condition means ready.
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, ip := range e.Addresses {
				ep := dnsd.Endpoint{IP: ip}
				if e.Hostname != nil {
					ep.Hostname = *e.Hostname
				}
				if e.TargetRef != nil {
					ep.PodName = e.TargetRef.Name
				}
				// A pod moving between slices is briefly in two.
				if !seen[ep] {
					seen[ep] = true
					out.Endpoints = append(out.Endpoints, ep)
				}
			}
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
