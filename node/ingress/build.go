package ingress

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
)

// Builder makes Tables. It keeps the key pairs it parsed, by Secret UID
// and resourceVersion, for its next Build: a rebuild for an unrelated
// change (an Endpoints update, say) parses no certificate again, and a
// Secret's new version is parsed once. Its methods are safe for concurrent
// use; the zero Builder is ready.
type Builder struct {
	// AllowLoopback lets endpoints on loopback addresses be used, for
	// tests whose backends listen on 127.0.0.1. A node never sets it: the
	// proxy must not reach the node's own loopback services.
	AllowLoopback bool

	mu    sync.Mutex
	certs map[certKey]parsedCert
}

// Build makes the table of the Ingresses that Serves picks. The oldest
// Ingress wins a host and path claimed twice. It returns, for each
// Ingress that could not be used whole, what was skipped and why; the rest
// of that Ingress, and every other one, is served.
func (bd *Builder) Build(classes []networkingv1.IngressClass, ingresses []networkingv1.Ingress, lookup Lookup) (*Table, []error) {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	parser := newCertParser(bd.certs)
	defer func() { bd.certs = parser.used }()
	t := &Table{exact: map[string]*hostRoutes{}, wildcard: map[string]*hostRoutes{}, certs: newCertificates()}
	var ours []*networkingv1.Ingress
	for i := range ingresses {
		if Serves(classes, &ingresses[i]) && ingresses[i].DeletionTimestamp == nil {
			ours = append(ours, &ingresses[i])
		}
	}
	sort.SliceStable(ours, func(i, j int) bool {
		a, b := ours[i], ours[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	backends := newBackendCache(lookup, bd.AllowLoopback)
	var errs []error
	for _, ing := range ours {
		if err := t.add(ing, backends, parser); err != nil {
			errs = append(errs, fmt.Errorf("ingress %s/%s: %w", ing.Namespace, ing.Name, err))
		}
	}
	for _, hr := range t.all() {
		sort.SliceStable(hr.routes, func(i, j int) bool {
			a, b := hr.routes[i], hr.routes[j]
			if len(a.path) != len(b.path) {
				return len(a.path) > len(b.path)
			}
			return a.exact && !b.exact
		})
	}
	t.Ingresses = len(ours)
	return t, errs
}

// add puts one Ingress's rules, default backend and certificates in t.
func (t *Table) add(ing *networkingv1.Ingress, backends *backendCache, certs *certParser) error {
	owner := ing.Namespace + "/" + ing.Name
	var problems []string
	var def *backend
	if b := ing.Spec.DefaultBackend; b != nil {
		if def = backends.get(ing.Namespace, b); def == nil {
			problems = append(problems, "spec.defaultBackend: only Service backends are served")
		} else if t.fallback == nil && len(ing.Spec.Rules) == 0 {
			t.fallback = def
		}
	}
	for i, rule := range ing.Spec.Rules {
		hr, first := t.hostRoutes(rule.Host)
		if first && rule.Host != "" {
			hr.defaultBackend = def
		}
		if rule.HTTP == nil {
			continue
		}
		for j, p := range rule.HTTP.Paths {
			at := fmt.Sprintf("spec.rules[%d].http.paths[%d]", i, j)
			r, err := newRoute(p, owner)
			if err != nil {
				problems = append(problems, at+": "+err.Error())
				continue
			}
			if r.backend = backends.get(ing.Namespace, &p.Backend); r.backend == nil {
				problems = append(problems, at+".backend: only Service backends are served")
				continue
			}
			if prev := hr.find(r.path, r.exact); prev != nil {
				if prev.owner != owner {
					problems = append(problems, fmt.Sprintf("%s: host %q path %q is already served by ingress %s", at, rule.Host, p.Path, prev.owner))
				}
				continue
			}
			hr.routes = append(hr.routes, r)
		}
	}
	for i, tl := range ing.Spec.TLS {
		if err := t.certs.add(ing, tl, backends.lookup, certs); err != nil {
			problems = append(problems, fmt.Sprintf("spec.tls[%d]: %v", i, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func newRoute(p networkingv1.HTTPIngressPath, owner string) (route, error) {
	if p.PathType == nil {
		return route{}, fmt.Errorf("pathType must be specified")
	}
	r := route{owner: owner}
	switch *p.PathType {
	case networkingv1.PathTypeExact:
		r.exact = true
	case networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific:
	default:
		return route{}, fmt.Errorf("unsupported pathType %q", *p.PathType)
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return route{}, fmt.Errorf("path %q is not absolute", p.Path)
	}
	if r.exact {
		r.path = path
		if path == "/" {
			r.path = ""
		}
	} else {
		r.path = strings.TrimRight(path, "/")
	}
	return r, nil
}
