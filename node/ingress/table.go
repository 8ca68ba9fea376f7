package ingress

import (
	"crypto/tls"
	"net"
	"strings"
)

// Table is one immutable routing table. The zero Table routes nothing.
type Table struct {
	exact    map[string]*hostRoutes // "app.example.test"
	wildcard map[string]*hostRoutes // "example.test" for "*.example.test"
	anyHost  *hostRoutes            // rules without host
	// fallback serves the catch-all server (no host matched, no host-less
	// rule matched): the spec.defaultBackend of the oldest Ingress that has
	// no rules, as in ingress-nginx; nil is its 404.
	fallback *backend
	certs    certificates
	// Ingresses is how many Ingresses the table serves.
	Ingresses int
}

// hostRoutes are the paths of one host, longest first.
type hostRoutes struct {
	routes []route
	// defaultBackend serves the host's unmatched paths: the
	// spec.defaultBackend of the Ingress that claimed the host first (the
	// oldest with a rule for it), nil (404) when that one has none. Unused
	// for the rules without host, whose misses go to Table.fallback.
	defaultBackend *backend
}

type route struct {
	// path is the rule's path without its trailing "/" ("" for "/").
	path  string
	exact bool
	// owner is "namespace/name" of the Ingress, for conflict reports.
	owner   string
	backend *backend
}

// matches applies the path type's rule to a request path.
func (r *route) matches(p string) bool {
	if r.exact {
		return p == r.path || r.path == "" && p == "/"
	}
	// Element-wise prefix: "/foo" matches "/foo", "/foo/" and "/foo/bar".
	return r.path == "" || p == r.path || strings.HasPrefix(p, r.path+"/")
}

// hostRoutes returns the routes of host, made on first use, and whether
// this use made them.
func (t *Table) hostRoutes(host string) (*hostRoutes, bool) {
	host = strings.ToLower(host)
	switch {
	case host == "":
		if t.anyHost == nil {
			t.anyHost = &hostRoutes{}
			return t.anyHost, true
		}
		return t.anyHost, false
	case strings.HasPrefix(host, "*."):
		return made(t.wildcard, host[2:])
	}
	return made(t.exact, host)
}

func made(m map[string]*hostRoutes, key string) (*hostRoutes, bool) {
	if hr := m[key]; hr != nil {
		return hr, false
	}
	hr := &hostRoutes{}
	m[key] = hr
	return hr, true
}

func (hr *hostRoutes) find(path string, exact bool) *route {
	for i := range hr.routes {
		if r := &hr.routes[i]; r.path == path && r.exact == exact {
			return r
		}
	}
	return nil
}

func (t *Table) all() []*hostRoutes {
	out := make([]*hostRoutes, 0, len(t.exact)+len(t.wildcard)+1)
	for _, hr := range t.exact {
		out = append(out, hr)
	}
	for _, hr := range t.wildcard {
		out = append(out, hr)
	}
	if t.anyHost != nil {
		out = append(out, t.anyHost)
	}
	return out
}

// match finds the backend of a request's Host header and URL path, or nil
// (404) when nothing matches. As in ingress-nginx, a host's unmatched paths
// go to its own default backend, never to the rules without host nor to
// another Ingress's; a host no rule names goes to the catch-all server:
// the rules without host, then Table.fallback.
func (t *Table) match(hostHeader, path string) *backend {
	host := canonicalHost(hostHeader)
	hr := t.exact[host]
	if hr == nil {
		if i := strings.IndexByte(host, '.'); i > 0 {
			hr = t.wildcard[host[i+1:]]
		}
	}
	if hr != nil {
		if b := hr.match(path); b != nil {
			return b
		}
		return hr.defaultBackend
	}
	if t.anyHost != nil {
		if b := t.anyHost.match(path); b != nil {
			return b
		}
	}
	return t.fallback
}

// match returns the backend of the longest route matching path, or nil.
func (hr *hostRoutes) match(path string) *backend {
	for i := range hr.routes {
		if hr.routes[i].matches(path) {
			return hr.routes[i].backend
		}
	}
	return nil
}

// canonicalHost is the Host header without port or trailing dot, in lower
// case.
func canonicalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// certificate returns the certificate for an SNI name, or nil.
func (t *Table) certificate(serverName string) *tls.Certificate {
	return t.certs.lookup(canonicalHost(serverName))
}
