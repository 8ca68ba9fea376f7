// Package ingress is a node's Ingress data plane: an HTTP and HTTPS reverse
// proxy (net/http/httputil) that routes requests by host and path to the
// ready endpoints of Services, as the Ingresses of shoal's class say.
//
// It knows nothing of raft or the API server. The node hands it the
// IngressClasses and Ingresses of its replica and a Lookup for Services,
// Endpoints and Secrets; Builder.Build turns them into an immutable Table
// (routes, backends, certificates; key pairs parsed once per Secret
// version) and Server.Update swaps it in atomically, so a rebuild never
// blocks a request. An Ingress that cannot be used whole
// (a missing Secret, an unknown path type) loses only its broken parts,
// and Build reports why.
//
// Routing follows the Ingress specification:
//
//   - hosts: an exact host wins over a wildcard ("*.example.test" matches
//     one label: "a.example.test", not "example.test" nor
//     "a.b.example.test"), which wins over rules without host;
//   - paths of the chosen host: the longest matching path wins, Exact before
//     Prefix at equal length; Prefix matches element-wise ("/foo" matches
//     "/foo" and "/foo/bar", not "/foobar"); ImplementationSpecific is
//     Prefix; when several Ingresses claim one host and path, the oldest
//     wins;
//   - no path of a host matches: the spec.defaultBackend of the host's own
//     Ingress (the oldest with a rule for it), else 404 "default backend -
//     404"; a host's rules never fall through to the rules without host
//     nor to another Ingress's default, as in ingress-nginx;
//   - a host no rule names goes to the catch-all: the rules without host,
//     then the spec.defaultBackend of the oldest Ingress without rules,
//     else the 404;
//   - a backend is a Service port (number or name) resolved to the ready
//     addresses of its Endpoints, balanced round-robin; none gives 503.
//     Node-local addresses (loopback, link-local, unspecified, multicast)
//     are never used, whatever the Endpoints say.
//
// HTTPS serves every spec.tls Secret (kubernetes.io/tls: tls.crt, tls.key)
// by SNI for its hosts, and a self-signed certificate made at start for
// anything else, as ingress-nginx's fake certificate.
//
// Usage on a node:
//
//	srv, _ := ingress.NewServer(ingress.Config{Addr: nodeIP, HTTPPort: 80, HTTPSPort: 443})
//	go srv.Run(ctx)
//	// on every change of the objects, and on a timer:
//	var b ingress.Builder
//	t, errs := b.Build(classes, ingresses, lookup)
//	srv.Update(t)
package ingress
