package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// Version is what /version reports. kubectl's dispatcher picks its binary
// from the minor version, and the tutorial's behaviour is that of v1.32.
var Version = VersionInfo{Major: "1", Minor: "32", GitVersion: "v1.32.4-shoal"}

// maxBodyBytes matches kube-apiserver's limit on request bodies (3 MiB).
const maxBodyBytes = 3 << 20

// Config holds the parts the API server uses; every field is required
// unless its comment says otherwise.
type Config struct {
	Store    *consensus.Store
	Proposer consensus.Proposer
	// Authenticate says whether a request carries valid credentials.
	Authenticate func(r *http.Request) bool
	// Extra handlers mounted before the API routes, by path prefix (for
	// example the join endpoint). They are served without authentication.
	Unauthenticated map[string]http.Handler
	// Authenticated handlers mounted by path prefix, after authentication.
	Authenticated map[string]http.Handler
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ServerAddress is reported in /api's serverAddressByClientCIDRs.
	ServerAddress string
	// Subresources serve the streaming subresources (log, exec, proxy,
	// portforward) by name; those not listed answer 404.
	Subresources map[string]SubresourceHandler
	// ServiceCIDR is the IPv4 range Services' cluster IPs come from; its
	// first host address is the kubernetes Service's. Optional: the zero
	// value means servicealloc.DefaultServiceCIDR (10.43.0.0/16).
	ServiceCIDR netip.Prefix
	// NodePortRange is the range of Services' node ports. Optional: the
	// zero value means servicealloc.DefaultNodePortRange (30000-32767). Validation
	// still refuses node ports outside 30000-32767.
	NodePortRange PortRange
	// Metrics receives the request metrics (apiserver_request_total,
	// apiserver_request_duration_seconds, ...). Optional: nil counts
	// nothing.
	Metrics prometheus.Registerer
	// APIServices are group-versions served by other handlers (the
	// resource metrics API). Optional.
	APIServices []APIService
}

// SubresourceHandler serves one subresource of an object; the contract is
// wire.SubresourceHandler's, named here for Config's users.
type SubresourceHandler = wire.SubresourceHandler

// Server is the Kubernetes-compatible API of one peer.
type Server struct {
	cfg     Config
	store   *consensus.Store
	prop    consensus.Proposer
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler
	// services allocates Services' cluster IPs and node ports.
	services *servicealloc.Allocator
	metrics  *requestMetrics // nil without Config.Metrics
	// terminating remembers, by namespace name, whether the stored
	// Namespace it last read was being deleted (checkNamespace).
	terminating sync.Map // string -> namespaceState

	// openapi holds the OpenAPI documents, built on first use.
	openapi openAPICache

	mu      sync.Mutex
	servers []*http.Server
}

// New assembles the server; it does no I/O.
func New(cfg Config) *Server {
	cfg.APIServices = append(append([]APIService(nil), cfg.APIServices...), selfReviewServices()...)
	s := &Server{cfg: cfg, store: cfg.Store, prop: cfg.Proposer, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.services = servicealloc.New(cfg.Store, cfg.ServiceCIDR, cfg.NodePortRange)
	if err := s.services.Err(); err != nil {
		s.log.Error("services cannot be given addresses", "error", err)
	}
	s.metrics = newRequestMetrics(cfg.Metrics, cfg)
	s.handler = s.instrument(s.recoverPanics(s.route()))
	return s
}

// Handler is the whole API as an http.Handler (tests use it directly).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTPS (or plain HTTP when tlsCfg is nil) on l until ctx is
// cancelled, then shuts down within five seconds.
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsCfg *tls.Config) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(l, "", "")
		} else {
			errc <- hs.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// recoverPanics turns a panic in one request into a 500 Status so that the
// node keeps serving.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				wire.WriteStatus(w, internalError(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
