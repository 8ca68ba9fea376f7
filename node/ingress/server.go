package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultShutdownTimeout bounds how long Run waits for requests in flight
// after its context is cancelled.
const DefaultShutdownTimeout = 5 * time.Second

// Backend timeouts, ingress-nginx's defaults: proxy-connect-timeout 5s and
// proxy-read-timeout 60s (here: until the response headers).
const (
	DefaultConnectTimeout        = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
)

// Config configures a Server. Zero ports disable a listener.
type Config struct {
	// Addr is the IP both listeners bind: the node's address.
	Addr string
	// HTTPPort and HTTPSPort are the plain and TLS ports (80 and 443 on a
	// node). 0 disables one.
	HTTPPort, HTTPSPort int
	// ShutdownTimeout bounds the graceful stop; default
	// DefaultShutdownTimeout. Requests still running then, upgraded
	// (WebSocket) connections included, are cut.
	ShutdownTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a backend's response
	// headers (504 after it); default DefaultResponseHeaderTimeout.
	ResponseHeaderTimeout time.Duration
	// Logger receives start, stop and error logs; nil discards.
	Logger *slog.Logger
}

// Server is the reverse proxy. Its lifecycle:
//
//	NewServer ──Run(ctx)──> listening (a busy port is logged and skipped)
//	                              │
//	                        Ready() closed ──ctx done──> graceful stop
//	                                                     (≤ ShutdownTimeout,
//	                                                     then every request,
//	                                                     upgraded ones too,
//	                                                     is cancelled)
//	                                                          │
//	                                        Run returns nil once no handler runs
//
// Until the first Update the table is empty: every request gets 404. The
// Server is also an http.Handler, and TLSConfig serves its certificates,
// so tests can run it under httptest.
type Server struct {
	cfg   Config
	log   *slog.Logger
	table atomic.Pointer[Table]
	proxy *httputil.ReverseProxy
	fake  *tls.Certificate
	ready chan struct{}
	// listening counts the ports Run opened; set before ready closes.
	listening atomic.Int32
	// inflight counts running handlers: http.Server.Shutdown does not wait
	// for hijacked (upgraded) connections, Run does.
	inflight sync.WaitGroup
}

type targetKey struct{}

// NewServer makes the server and its fallback certificate; Run listens.
func NewServer(cfg Config) (*Server, error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.ResponseHeaderTimeout == 0 {
		cfg.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fake, err := fakeCertificate(time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, fake: fake, ready: make(chan struct{})}
	s.table.Store(&Table{})
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(string)
			pr.SetURL(&url.URL{Scheme: "http", Host: target})
			pr.Out.Host = pr.In.Host // the backend sees the Host the client asked for
			pr.SetXForwarded()
			// The client's address, whatever the client sent, as
			// ingress-nginx sets it ($remote_addr).
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				pr.Out.Header.Set("X-Real-IP", ip)
			} else {
				pr.Out.Header.Del("X-Real-IP")
			}
		},
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("ingress backend", "target", r.Context().Value(targetKey{}), "error", err)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				http.Error(w, "504 Gateway Time-out", http.StatusGatewayTimeout)
				return
			}
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Update swaps in a new routing table; requests in flight keep the old one.
func (s *Server) Update(t *Table) { s.table.Store(t) }

// Ready is closed once the listeners are open (or found busy).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Serving reports, once Ready is closed, whether at least one port is
// open: a node whose ports are all disabled or taken serves no Ingress.
func (s *Server) Serving() bool { return s.listening.Load() > 0 }

// ServeHTTP routes one request. Its path is matched, and forwarded, as
// nginx normalises it (cleanPath): "/v2/../admin" is "/admin", so a dot
// segment cannot reach a backend through another path's route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	if p := cleanPath(r.URL.Path); p != r.URL.Path {
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = p, ""
	}
	b := s.table.Load().match(r.Host, r.URL.Path)
	if b == nil {
		http.Error(w, "default backend - 404", http.StatusNotFound)
		return
	}
	target, ok := b.pick()
	if !ok {
		s.log.Debug("ingress backend unavailable", "backend", b.name, "why", b.why)
		http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		return
	}
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}

// cleanPath resolves "." and ".." segments and merges repeated slashes,
// keeping a trailing slash, as nginx normalises a URI before it matches
// locations. A path that is not absolute ("*") is left alone.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		return p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// TLSConfig picks each connection's certificate by SNI from the current
// table, the fake certificate when none fits.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.table.Load().certificate(hello.ServerName); c != nil {
				return c, nil
			}
			return s.fake, nil
		},
	}
}

// Run serves until ctx is cancelled, then stops gracefully: up to
// ShutdownTimeout for requests in flight, then it cancels what still runs
// (the context of every request, which also closes upgraded connections)
// and returns once no handler runs. A port that cannot be bound (taken on
// a developer's machine, say) is logged and skipped, so the node keeps
// running without it.
func (s *Server) Run(ctx context.Context) error {
	// Requests outlive ctx by the grace period: their base is cancelled
	// only after it.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	var servers []*http.Server
	var wg sync.WaitGroup
	serve := func(port int, useTLS bool) {
		if port == 0 {
			return
		}
		addr := net.JoinHostPort(s.cfg.Addr, strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			s.log.Warn("ingress: cannot listen; serving without this port", "addr", addr, "error", err)
			return
		}
		hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			BaseContext: func(net.Listener) context.Context { return base },
			ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		if useTLS {
			hs.TLSConfig = s.TLSConfig()
		}
		servers = append(servers, hs)
		s.listening.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if useTLS {
				err = hs.ServeTLS(l, "", "")
			} else {
				err = hs.Serve(l)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("ingress: serve", "addr", addr, "error", err)
			}
		}()
		s.log.Info("ingress listening", "addr", addr, "tls", useTLS)
	}
	serve(s.cfg.HTTPPort, false)
	serve(s.cfg.HTTPSPort, true)
	close(s.ready)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(stopCtx); err != nil {
			hs.Close()
		}
	}
	wg.Wait()
	// Shutdown waits for neither hijacked connections nor their handlers:
	// give them the rest of the grace period, then cancel them.
	idle := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-stopCtx.Done():
		cancelBase()
		<-idle
	}
	s.proxy.Transport.(*http.Transport).CloseIdleConnections()
	return nil
}
