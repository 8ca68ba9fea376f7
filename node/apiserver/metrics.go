package apiserver

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/metrics"
)

// Request metrics named and labelled as kube-apiserver's
// (k8s.io/apiserver/pkg/endpoints/metrics), so that its dashboards and
// alerts (kubernetes-mixin) read shoal's API unchanged: verbs are
// kube-apiserver's metric verbs (GET, LIST, WATCH, POST, PUT, PATCH,
// APPLY, DELETE, DELETECOLLECTION, CONNECT), not the RBAC ones.

// component is the component label kube-apiserver gives its own requests.
const component = "apiserver"

// requestDurationBuckets are kube-apiserver's.
var requestDurationBuckets = []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}

// longRunningSubresources are those kube-apiserver's default long-running
// check names: their requests last as long as the stream, so they are
// counted but kept out of the latency histogram.
var longRunningSubresources = map[string]bool{"attach": true, "exec": true, "proxy": true, "log": true, "portforward": true}

// connectSubresources are served by kube-apiserver's connecters, whose
// requests carry the CONNECT verb whatever their method.
var connectSubresources = map[string]bool{"attach": true, "exec": true, "proxy": true, "portforward": true}

// nonResourcePaths are the paths outside the resource tree that get a
// series of their own (in the subresource label, as kube-apiserver does);
// any other such path is counted as "other", so that arbitrary URLs cannot
// grow the number of series.
var nonResourcePaths = []string{"/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2", "/openapi/v3", "/apis", "/api"}

// validRequestMethods are the methods whose names may become a verb
// label. Go's server accepts any token as a method and instrument runs
// before authentication, so any other method is counted as "other", as
// kube-apiserver's cleanVerb does: otherwise anyone reaching the port could
// add series without bound.
var validRequestMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true,
}

// otherRequestMethod is kube-apiserver's verb label for any other method.
const otherRequestMethod = "other"

// methodVerb is the verb label of a request's method, when nothing more
// precise is known about it.
func methodVerb(r *http.Request) string {
	if validRequestMethods[r.Method] {
		return r.Method
	}
	return otherRequestMethod
}

// requestMetrics are the API's request counters and timings.
type requestMetrics struct {
	total       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	longRunning *prometheus.GaugeVec
	inflight    *prometheus.GaugeVec
	// extra are the Config's extra handler prefixes, which get a series
	// each.
	extra []string
	// services are the Config's APIServices, whose resources are labelled
	// as the store's.
	services []APIService
}

// newRequestMetrics registers the request metrics on reg; nil reg gives
// nil (no metrics).
func newRequestMetrics(reg prometheus.Registerer, cfg Config) *requestMetrics {
	if reg == nil {
		return nil
	}
	m := &requestMetrics{
		total: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
		}, []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"})),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component; long-running requests (watch, exec, attach, log, portforward, proxy) are left out.",
			Buckets: requestDurationBuckets,
		}, []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"})),
		longRunning: metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_longrunning_requests",
			Help: "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component"})),
		inflight: metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Number of requests being served, not counting long-running ones, by kind (readOnly, mutating).",
		}, []string{"request_kind"})),
	}
	m.services = cfg.APIServices
	for _, handlers := range []map[string]http.Handler{cfg.Unauthenticated, cfg.Authenticated} {
		for prefix := range handlers {
			m.extra = append(m.extra, prefix)
		}
	}
	return m
}

// requestInfo is what the metrics say about one request.
type requestInfo struct {
	verb, dryRun, group, version, resource, subresource, scope string
	longRunning                                                bool
}

// instrument counts and times every request that reaches next. With no
// metrics it returns next itself.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.metrics
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := m.classify(r)
		var done func()
		if info.longRunning {
			g := m.longRunning.WithLabelValues(info.verb, info.group, info.version, info.resource, info.subresource, info.scope, component)
			g.Inc()
			done = g.Dec
		} else {
			g := m.inflight.WithLabelValues(requestKind(info.verb))
			g.Inc()
			done = g.Dec
		}
		rec := &statusRecorder{}
		defer func() {
			done()
			m.total.WithLabelValues(info.verb, info.dryRun, info.group, info.version, info.resource, info.subresource, info.scope, component, strconv.Itoa(rec.status())).Inc()
			if !info.longRunning {
				m.duration.WithLabelValues(info.verb, info.dryRun, info.group, info.version, info.resource, info.subresource, info.scope, component).Observe(time.Since(start).Seconds())
			}
		}()
		next.ServeHTTP(rec.wrap(w), r)
	})
}

// requestKind is apiserver_current_inflight_requests' request_kind.
func requestKind(verb string) string {
	switch verb {
	case "GET", "LIST", "WATCH", "HEAD", "OPTIONS":
		return "readOnly"
	}
	return "mutating"
}

// classify names a request's verb and resource as kube-apiserver's
// metrics do. Only resources the registry knows get their names into
// labels: anything else a client sends adds no series.
func (m *requestMetrics) classify(r *http.Request) requestInfo {
	info := requestInfo{verb: methodVerb(r), dryRun: dryRunLabel(r)}
	parts := splitPath(r.URL.Path)
	var group, version string
	switch {
	case parts[0] == "api" && len(parts) >= 3:
		version, parts = parts[1], parts[2:]
	case parts[0] == "apis" && len(parts) >= 4:
		group, version, parts = parts[1], parts[2], parts[3:]
	default:
		info.subresource, info.longRunning = m.nonResourcePath(r.URL.Path)
		return info
	}
	q, err := parseResourcePath(group, version, parts)
	if err == nil {
		info.resource = q.gr().Resource
	} else if info.resource, q = m.servedResource(group, version, parts); q == nil {
		return info // an unknown resource: the verb and code say enough
	}
	info.group, info.version, info.subresource = group, version, q.subresource
	info.verb = resourceVerb(r, q)
	switch {
	case q.name != "" || info.verb == "POST" && q.subresource == "":
		info.scope = "resource"
	case q.namespace != "":
		info.scope = "namespace"
	default:
		info.scope = "cluster"
	}
	info.longRunning = info.verb == "WATCH" || longRunningSubresources[q.subresource]
	return info
}

// servedResource reads [namespaces/NS/]RESOURCE[/NAME] when it names a
// resource an APIService lists (metrics.k8s.io's nodes and pods); q is nil
// when it does not.
func (m *requestMetrics) servedResource(group, version string, parts []string) (resource string, q *request) {
	var svc *APIService
	for i := range m.services {
		if gv := m.services[i].GroupVersion; gv.Group == group && gv.Version == version {
			svc = &m.services[i]
		}
	}
	if svc == nil {
		return "", nil
	}
	q = &request{}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		q.namespace, parts = parts[1], parts[2:]
	}
	if len(parts) > 2 {
		return "", nil
	}
	if len(parts) == 2 {
		q.name = parts[1]
	}
	for _, res := range svc.Resources {
		if res.Name == parts[0] {
			return res.Name, q
		}
	}
	return "", nil
}

// resourceVerb is kube-apiserver's metric verb for a resource request.
func resourceVerb(r *http.Request, q *request) string {
	if connectSubresources[q.subresource] {
		return "CONNECT"
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch(r):
			return "WATCH"
		case q.name == "":
			return "LIST"
		}
		return "GET"
	case http.MethodPatch:
		if strings.HasPrefix(r.Header.Get("Content-Type"), string(types.ApplyPatchType)) {
			return "APPLY"
		}
		return "PATCH"
	case http.MethodDelete:
		if q.name == "" {
			return "DELETECOLLECTION"
		}
		return "DELETE"
	}
	return methodVerb(r)
}

// nonResourcePath is the label of a path outside the resource tree, and
// whether it is a stream (the node-to-node log and exec handlers).
func (m *requestMetrics) nonResourcePath(p string) (label string, longRunning bool) {
	for _, prefix := range m.extra {
		if p == prefix || strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, prefix) {
			for _, el := range strings.Split(p, "/") {
				if longRunningSubresources[el] {
					longRunning = true
				}
			}
			return strings.TrimSuffix(prefix, "/"), longRunning
		}
	}
	for _, known := range nonResourcePaths {
		if p == known || strings.HasPrefix(p, known+"/") {
			return known, false
		}
	}
	return "other", false
}

// dryRunLabel is kube-apiserver's dry_run label: "" or "All", or
// "invalid" for anything else.
func dryRunLabel(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	values := r.URL.Query()["dryRun"]
	if len(values) == 0 {
		return ""
	}
	for _, v := range values {
		if v != "All" {
			return "invalid"
		}
	}
	return "All"
}

// statusRecorder remembers the status a handler answered with. Its
// wrapper keeps every optional interface of the writer it wraps (Flush,
// Hijack, ...), which watches, logs and exec need.
type statusRecorder struct {
	mu       sync.Mutex
	code     int
	hijacked bool
}

func (rec *statusRecorder) wrap(w http.ResponseWriter) http.ResponseWriter {
	return httpsnoop.Wrap(w, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) {
				// Informational answers (1xx but 101) precede the real one.
				if code >= 200 || code == http.StatusSwitchingProtocols {
					rec.set(code)
				}
				next(code)
			}
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) {
				rec.set(http.StatusOK)
				return next(b)
			}
		},
		Hijack: func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (c net.Conn, rw *bufio.ReadWriter, err error) {
				c, rw, err = next()
				if err == nil {
					rec.mu.Lock()
					rec.hijacked = true
					rec.mu.Unlock()
				}
				return c, rw, err
			}
		},
	})
}

// set records code unless a status was recorded already.
func (rec *statusRecorder) set(code int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.code == 0 {
		rec.code = code
	}
}

// status is the answer's status: what was written, 101 for a connection
// taken over without one (a WebSocket upgrade), else 200 as net/http
// sends.
func (rec *statusRecorder) status() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch {
	case rec.code != 0:
		return rec.code
	case rec.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}
