package consensus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The forwarding stream (since v0.3.0): one connection from a follower to
// the leader carries every write the follower forwards, many at a time.
// Each direction batches what is ready into one write, as etcd's peers
// carry proposals on their streams, instead of one HTTP exchange per
// write: with 64 writers the HTTP machinery of the forwards was a sixth
// of the servers' CPU (issue 13).
//
// After the first byte (forwardStreamByte) the follower writes
// streamHello and the leader echoes it. Then both sides send frames:
//
//	uvarint n | n bytes: uvarint call id | body
//
// A call's body is a msgFramed entry; the answer's is a framed answer
// (forward_framed.go) under the same id. A leader from before v0.3.0 takes
// the first byte for raft's and drops the connection: the follower then
// forwards over HTTP (/apply-framed, /apply) and tries the stream again
// later.

const (
	forwardStreamByte = 0xF1
	streamHello       = "shoal-forward-stream/1\n"
	// streamHelloTimeout bounds the dial and the hello's echo.
	streamHelloTimeout = 5 * time.Second
	// streamRetryAfter is how long a follower forwards over HTTP after a
	// leader did not take the stream.
	streamRetryAfter = time.Minute
	// streamStall fails a stream whose calls have waited this long without
	// any answer: the leader answers every call within applyTimeout.
	streamStall = applyTimeout + 5*time.Second
	// streamWriteTimeout bounds one batch's write.
	streamWriteTimeout = 10 * time.Second
	maxStreamFrame     = maxForwardBody + 4096
)

var (
	// errNoStream: the leader does not take the stream (older binary).
	errNoStream = errors.New("leader does not take the forwarding stream")
	// errStreamClosed: the stream ended; calls it had sent have an unknown
	// outcome.
	errStreamClosed = errors.New("forwarding stream closed")
)

// streamCall is one forwarded entry waiting for its answer.
type streamCall struct {
	id    uint64
	entry []byte
	sent  atomic.Bool // handed to the connection: the leader may apply it
	res   chan streamResult
}

type streamResult struct {
	resp *forwardResponse
	err  error
}

// streamClient is a follower's stream to one leader address.
type streamClient struct {
	f     *forwarder
	addr  string
	conn  net.Conn
	sendq chan *streamCall
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	pending map[uint64]*streamCall
	nextID  uint64
	err     error
}

// callStream forwards entry to the leader at addr over the stream.
// errNoStream says to use HTTP; a *dialError that nothing was sent.
func (f *forwarder) callStream(ctx context.Context, addr string, entry []byte) (*forwardResponse, error) {
	sc, err := f.streamTo(ctx, addr)
	if err != nil {
		return nil, err
	}
	call := &streamCall{entry: entry, res: make(chan streamResult, 1)}
	sc.mu.Lock()
	if sc.err != nil {
		sc.mu.Unlock()
		return nil, &dialError{sc.err}
	}
	sc.nextID++
	call.id = sc.nextID
	sc.pending[call.id] = call
	sc.mu.Unlock()
	forget := func() {
		sc.mu.Lock()
		delete(sc.pending, call.id)
		sc.mu.Unlock()
	}
	select {
	case sc.sendq <- call:
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-sc.done:
		forget()
		return nil, &dialError{errStreamClosed}
	}
	select {
	case r := <-call.res:
		return r.resp, r.err
	case <-ctx.Done():
		forget()
		if leaderReplaced(ctx) {
			// The leader may be cut off with the connection half open:
			// do not leave the next calls to it behind this one.
			sc.fail(errLeaderReplaced)
		}
		return nil, ctx.Err()
	case <-sc.done:
		select {
		case r := <-call.res:
			return r.resp, r.err
		default:
		}
		forget()
		if !call.sent.Load() {
			return nil, &dialError{errStreamClosed}
		}
		return nil, fmt.Errorf("%w: %v", errStreamClosed, sc.failure())
	}
}

// streamTo returns the live stream to addr, dialing one when there is
// none.
func (f *forwarder) streamTo(ctx context.Context, addr string) (*streamClient, error) {
	f.streamMu.Lock()
	defer f.streamMu.Unlock()
	if f.closed {
		return nil, &dialError{errStreamClosed}
	}
	if sc := f.streams[addr]; sc != nil {
		return sc, nil
	}
	if until, ok := f.noStream[addr]; ok && time.Now().Before(until) {
		return nil, errNoStream
	}
	// Dialing under the lock makes concurrent callers share one stream;
	// it is bounded by streamHelloTimeout.
	dctx, cancel := context.WithTimeout(ctx, streamHelloTimeout)
	defer cancel()
	conn, err := f.dial.dial(dctx, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if err := streamHandshake(conn); err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, &dialError{ctx.Err()}
		}
		f.noStream[addr] = time.Now().Add(streamRetryAfter)
		f.r.logger.Info("leader does not take the forwarding stream; forwarding over HTTP", "leader", addr, "error", err)
		return nil, errNoStream
	}
	delete(f.noStream, addr)
	sc := &streamClient{f: f, addr: addr, conn: conn, sendq: make(chan *streamCall, 256),
		done: make(chan struct{}), pending: map[uint64]*streamCall{}}
	f.streams[addr] = sc
	sc.wg.Add(2)
	go sc.writeLoop()
	go sc.readLoop()
	return sc, nil
}

// streamHandshake sends the stream's first byte and hello and waits for
// the echo.
func streamHandshake(conn net.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(streamHelloTimeout))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	if _, err := conn.Write(append([]byte{forwardStreamByte}, streamHello...)); err != nil {
		return err
	}
	echo := make([]byte, len(streamHello))
	if _, err := io.ReadFull(conn, echo); err != nil {
		return err
	}
	if string(echo) != streamHello {
		return fmt.Errorf("unexpected hello %q", echo)
	}
	return nil
}

// fail ends the stream once: it closes the connection and wakes every
// waiting call.
func (sc *streamClient) fail(err error) {
	sc.mu.Lock()
	if sc.err != nil {
		sc.mu.Unlock()
		return
	}
	sc.err = err
	sc.mu.Unlock()
	_ = sc.conn.Close()
	close(sc.done)
	sc.f.streamMu.Lock()
	if sc.f.streams[sc.addr] == sc {
		delete(sc.f.streams, sc.addr)
	}
	sc.f.streamMu.Unlock()
}

func (sc *streamClient) failure() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.err
}

// writeLoop sends calls, as many as are queued in one write.
func (sc *streamClient) writeLoop() {
	defer sc.wg.Done()
	w := bufio.NewWriterSize(sc.conn, 64<<10)
	for {
		var call *streamCall
		select {
		case call = <-sc.sendq:
		case <-sc.done:
			return
		}
		_ = sc.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		for call != nil {
			call.sent.Store(true)
			if err := writeFrame(w, call.id, call.entry); err != nil {
				sc.fail(err)
				return
			}
			select {
			case call = <-sc.sendq:
			default:
				call = nil
			}
		}
		if err := w.Flush(); err != nil {
			sc.fail(err)
			return
		}
	}
}

// readLoop hands answers to their calls. A stream whose calls wait
// streamStall without any answer is failed.
func (sc *streamClient) readLoop() {
	defer sc.wg.Done()
	r := bufio.NewReaderSize(sc.conn, 64<<10)
	for {
		_ = sc.conn.SetReadDeadline(time.Now().Add(streamStall))
		id, body, err := readFrame(r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				sc.mu.Lock()
				idle := len(sc.pending) == 0
				sc.mu.Unlock()
				if idle {
					continue
				}
			}
			sc.fail(err)
			return
		}
		resp, err := decodeFramedAnswer(body)
		if err != nil {
			sc.fail(fmt.Errorf("stream answer: %w", err))
			return
		}
		sc.mu.Lock()
		call := sc.pending[id]
		delete(sc.pending, id)
		sc.mu.Unlock()
		if call != nil {
			call.res <- streamResult{resp: resp}
		}
	}
}

// closeStreams ends every stream, both the calls this node makes and
// those it serves, and waits for their goroutines.
func (f *forwarder) closeStreams() {
	f.streamMu.Lock()
	f.closed = true
	clients := make([]*streamClient, 0, len(f.streams))
	for _, sc := range f.streams {
		clients = append(clients, sc)
	}
	served := make([]net.Conn, 0, len(f.served))
	for c := range f.served {
		served = append(served, c)
	}
	f.streamMu.Unlock()
	for _, sc := range clients {
		sc.fail(errStreamClosed)
		sc.wg.Wait()
	}
	for _, c := range served {
		_ = c.Close()
	}
	f.servedWG.Wait()
}

// serveStreams takes the streams the mux hands over until l closes.
func (f *forwarder) serveStreams(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		f.streamMu.Lock()
		if f.closed {
			f.streamMu.Unlock()
			_ = c.Close()
			continue
		}
		f.served[c] = struct{}{}
		f.servedWG.Add(1)
		f.streamMu.Unlock()
		go f.serveStream(c)
	}
}

// serveStream answers one follower's stream: each call is applied in its
// own goroutine, and answers go back as many per write as are ready.
func (f *forwarder) serveStream(c net.Conn) {
	defer f.servedWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	var calls sync.WaitGroup
	answers := make(chan []byte, 256)
	defer func() {
		cancel()
		_ = c.Close()
		calls.Wait()
		f.streamMu.Lock()
		delete(f.served, c)
		f.streamMu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(streamHelloTimeout))
	hello := make([]byte, len(streamHello))
	if _, err := io.ReadFull(c, hello); err != nil || string(hello) != streamHello {
		return
	}
	if _, err := c.Write(hello); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})

	calls.Add(1)
	go func() { // the writer
		defer calls.Done()
		w := bufio.NewWriterSize(c, 64<<10)
		for {
			var a []byte
			select {
			case a = <-answers:
			case <-ctx.Done():
				return
			}
			_ = c.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			for a != nil {
				if _, err := w.Write(a); err != nil {
					cancel()
					_ = c.Close()
					return
				}
				select {
				case a = <-answers:
				default:
					a = nil
				}
			}
			if err := w.Flush(); err != nil {
				cancel()
				_ = c.Close()
				return
			}
		}
	}()

	r := bufio.NewReaderSize(c, 64<<10)
	for {
		id, entry, err := readFrame(r)
		if err != nil {
			return
		}
		// The frame's buffer is the entry's from here on: raft keeps it.
		calls.Add(1)
		go func() {
			defer calls.Done()
			var resp forwardResponse
			f.applyForwarded(ctx, entry, &resp)
			frame := appendFrame(nil, id, encodeFramedAnswer(&resp))
			select {
			case answers <- frame:
			case <-ctx.Done():
			}
		}()
	}
}

// writeFrame writes one frame to w.
func writeFrame(w *bufio.Writer, id uint64, body []byte) error {
	var hdr [2 * binary.MaxVarintLen64]byte
	if _, err := w.Write(appendFrameHeader(hdr[:0], id, len(body))); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// appendFrame appends one frame to buf.
func appendFrame(buf []byte, id uint64, body []byte) []byte {
	return append(appendFrameHeader(buf, id, len(body)), body...)
}

// appendFrameHeader appends what precedes a frame's body: the frame's
// length and the call id.
func appendFrameHeader(buf []byte, id uint64, bodyLen int) []byte {
	idLen := len(binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64), id))
	buf = binary.AppendUvarint(buf, uint64(idLen+bodyLen))
	return binary.AppendUvarint(buf, id)
}

// readFrame reads one frame; the body is a fresh slice.
func readFrame(r *bufio.Reader) (id uint64, body []byte, err error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || n > maxStreamFrame {
		return 0, nil, fmt.Errorf("stream frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	id, w := binary.Uvarint(buf)
	if w <= 0 {
		return 0, nil, fmt.Errorf("stream frame without a call id")
	}
	return id, buf[w:], nil
}
