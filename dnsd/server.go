package dnsd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// DefaultShutdownTimeout bounds how long Run waits for in-flight queries
// after its context is cancelled (CoreDNS's graceTimeout).
const DefaultShutdownTimeout = 5 * time.Second

// ServerConfig configures the transport. Zero fields take defaults.
type ServerConfig struct {
	// Addrs are the "ip:port" addresses to serve, each over both UDP and
	// TCP: the node's pod bridge gateway IP:53 plus any from a flag. Port 0
	// picks a free port, the same one for UDP and TCP (see Server.Addrs).
	Addrs []string
	// UDPSockets is the number of UDP sockets per address, default
	// GOMAXPROCS: SO_REUSEPORT sockets on the same port, each read by a
	// goroutine of its own, so queries are answered on every core without
	// a shared read loop or a goroutine per query.
	UDPSockets int
	// ShutdownTimeout bounds the graceful stop, default
	// DefaultShutdownTimeout; after it Run closes the sockets and returns.
	ShutdownTimeout time.Duration
	// ReadTimeout and WriteTimeout bound TCP reads and writes, default 2s.
	ReadTimeout, WriteTimeout time.Duration
	// Logger receives start, stop and error logs; nil discards.
	Logger *slog.Logger
}

// Server serves a Handler over UDP and TCP. Its lifecycle:
//
//	NewServer ──Run(ctx)──> listening ──all sockets serving──> Ready() closed
//	                 │                                              │
//	                 └── listen error: Run returns it   ctx done or serve error
//	                                                                │
//	                           graceful stop (≤ ShutdownTimeout) <──┘
//	                                      │
//	                         Run returns (nil after ctx cancel)
//
// A Server runs once.
type Server struct {
	cfg     ServerConfig
	handler *Handler
	log     *slog.Logger

	ready   chan struct{}
	running atomic.Bool

	mu    sync.Mutex
	addrs []string
}

// NewServer returns a server for h. It does no I/O; Run listens.
func NewServer(h *Handler, cfg ServerConfig) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 2 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, handler: h, log: cfg.Logger, ready: make(chan struct{})}
}

// Ready is closed once every UDP and TCP socket is serving. It is never
// closed if Run fails before that.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound "ip:port" addresses, one per ServerConfig.Addrs
// entry (UDP and TCP share the port), once Run has opened its sockets.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Reload replaces the handler's hot-reloadable settings; see Handler.Reload.
func (s *Server) Reload(settings Settings) { s.handler.Reload(settings) }

// Run listens on every address and serves until ctx is cancelled (then it
// returns nil) or a socket fails (then it returns the error). Either way it
// stops all sockets and waits for in-flight queries, at most
// ShutdownTimeout, before returning.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("dnsd: server already run")
	}
	if len(s.cfg.Addrs) == 0 {
		return errors.New("dnsd: no listen address")
	}
	var sockets []io.Closer
	var udp []*net.UDPConn
	var tcp []*dns.Server
	var bound []string
	for _, addr := range s.cfg.Addrs {
		pcs, l, err := listenGroup(addr, s.cfg.UDPSockets)
		if err != nil {
			for _, c := range sockets {
				c.Close()
			}
			return fmt.Errorf("dnsd: %w", err)
		}
		for _, pc := range pcs {
			sockets = append(sockets, pc)
		}
		sockets = append(sockets, l)
		udp = append(udp, pcs...)
		bound = append(bound, pcs[0].LocalAddr().String())
		tcp = append(tcp, &dns.Server{Listener: l})
	}
	s.mu.Lock()
	s.addrs = bound
	s.mu.Unlock()

	// runCtx cancels queries being forwarded when the server stops.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		s.handler.serve(runCtx, w, r)
	})
	// The UDP sockets are open, so they serve from here on; the TCP
	// servers say when they accept.
	var pending atomic.Int32
	pending.Store(int32(len(tcp)))
	notify := func() {
		if pending.Add(-1) == 0 {
			s.log.Info("dnsd: serving", "addrs", bound, "udp_sockets", len(udp)/len(bound))
			close(s.ready)
		}
	}
	errc := make(chan error, len(tcp)+len(udp))
	var forwards sync.WaitGroup
	for _, pc := range udp {
		w := newUDPWorker(runCtx, s.handler, pc, &forwards)
		go func() { errc <- w.run() }()
	}
	for _, srv := range tcp {
		srv.Handler = handler
		srv.ReadTimeout = s.cfg.ReadTimeout
		srv.WriteTimeout = s.cfg.WriteTimeout
		srv.NotifyStartedFunc = notify
		go func() { errc <- srv.ActivateAndServe() }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("dnsd: serve: %w", err)
		if err == nil {
			runErr = errors.New("dnsd: a socket stopped serving")
		}
	}
	cancel()

	stopCtx, stop := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer stop()
	// A UDP worker answers in place: closing its socket ends it. Queries
	// being forwarded end with runCtx.
	for _, pc := range udp {
		pc.Close()
	}
	for i, srv := range tcp {
		if err := srv.ShutdownContext(stopCtx); err != nil {
			// Not started yet, or the grace period ran out: closing the
			// socket makes its serve loop return.
			tcp[i].Listener.Close()
		}
	}
	waiting := len(tcp) + len(udp)
	if runErr != nil {
		waiting--
	}
	done := make(chan struct{})
	go func() { forwards.Wait(); close(done) }()
	for ; waiting > 0; waiting-- {
		select {
		case <-errc:
		case <-stopCtx.Done():
			s.log.Warn("dnsd: shutdown timed out", "timeout", s.cfg.ShutdownTimeout)
			for _, c := range sockets {
				c.Close()
			}
			return runErr
		}
	}
	select {
	case <-done:
	case <-stopCtx.Done():
		s.log.Warn("dnsd: forwarded queries still running at shutdown", "timeout", s.cfg.ShutdownTimeout)
	}
	s.log.Info("dnsd: stopped")
	return runErr
}

// listenGroup opens n UDP sockets (SO_REUSEPORT: the kernel spreads
// queries over them by source, so each core reads its own) and one TCP
// listener, all on addr. With port 0 it picks a port free for all.
func listenGroup(addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %q: %w", addr, err)
	}
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	lc := net.ListenConfig{Control: reusePort}
	for i := 0; ; i++ {
		first, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		bound := first.LocalAddr().String()
		_, p, _ := net.SplitHostPort(bound)
		l, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err != nil {
			first.Close()
			if i+1 >= tries {
				return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
			}
			continue
		}
		pcs := []*net.UDPConn{first.(*net.UDPConn)}
		for len(pcs) < n {
			pc, err := lc.ListenPacket(context.Background(), "udp", bound)
			if err != nil {
				for _, c := range pcs {
					c.Close()
				}
				l.Close()
				return nil, nil, fmt.Errorf("listen udp %s (socket %d of %d): %w", bound, len(pcs)+1, n, err)
			}
			pcs = append(pcs, pc.(*net.UDPConn))
		}
		return pcs, l, nil
	}
}

// reusePort sets SO_REUSEPORT on a socket before it binds.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", serr)
	}
	return nil
}
