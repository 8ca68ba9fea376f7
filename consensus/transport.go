package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The raft port is shared by raft itself and the forwarding RPC. The first
// byte a client writes on a connection (after the TLS handshake) picks the
// protocol: forwardByte for the forwarding RPC, forwardStreamByte for the
// forwarding stream, anything else is raft's
// NetworkTransport (whose RPC type bytes are small integers), and that byte
// is handed back to raft unread.
const forwardByte = 0xF0

// demuxTimeout bounds the TLS handshake and the first byte of a connection.
const demuxTimeout = 10 * time.Second

// mux accepts connections on the raft port and splits them between two
// virtual listeners.
type mux struct {
	ln      net.Listener
	tlsConf *tls.Config
	logger  *slog.Logger
	raft    *chanListener
	rpc     *chanListener
	stream  *chanListener // forwarding streams (forward_stream.go)
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newMux(ln net.Listener, tlsConf *tls.Config, advertise net.Addr, logger *slog.Logger) *mux {
	m := &mux{ln: ln, tlsConf: tlsConf, logger: logger, done: make(chan struct{})}
	m.raft = newChanListener(advertise, m.done)
	m.rpc = newChanListener(advertise, m.done)
	m.stream = newChanListener(advertise, m.done)
	return m
}

// run accepts connections until close.
func (m *mux) run() {
	defer m.wg.Done()
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.logger.Warn("raft listener accept failed", "error", err)
			select {
			case <-time.After(delay):
			case <-m.done:
				return
			}
			continue
		}
		delay = 0
		m.wg.Add(1)
		go m.demux(c)
	}
}

func (m *mux) demux(c net.Conn) {
	defer m.wg.Done()
	if m.tlsConf != nil {
		c = tls.Server(c, m.tlsConf)
	}
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(demuxTimeout))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		m.logger.Debug("raft port: dropping connection", "remote", c.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	switch b[0] {
	case forwardByte:
		m.rpc.deliver(c)
		return
	case forwardStreamByte:
		m.stream.deliver(c)
		return
	}
	m.raft.deliver(&peekedConn{Conn: c, first: b[0], has: true})
}

// close stops accepting, closes the real listener and waits for demuxing
// goroutines. Connections already handed out are closed by their owners.
func (m *mux) close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.ln.Close()
		m.wg.Wait()
	})
	return err
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   <-chan struct{} // the mux's
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr, done <-chan struct{}) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: done, closed: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// peekedConn gives back the byte the mux read.
type peekedConn struct {
	net.Conn
	first byte
	has   bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// tcpAddr is a net.Addr for an advertised host:port.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// dialer opens connections to other nodes' raft ports, with TLS when set.
type dialer struct {
	tlsConf *tls.Config
}

func (d dialer) dial(ctx context.Context, address string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	if d.tlsConf == nil {
		return c, nil
	}
	conf := d.tlsConf.Clone()
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err == nil {
			conf.ServerName = host
		}
	}
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", address, err)
	}
	return tc, nil
}

// streamLayer is raft's view of the raft port.
type streamLayer struct {
	*chanListener
	dialer dialer
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dialer.dial(ctx, string(address))
}
