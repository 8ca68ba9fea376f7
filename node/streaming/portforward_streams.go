package streaming

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/streaming/pkg/httpstream"
)

// portForwardDialTimeout bounds the dial to the pod's port.
const portForwardDialTimeout = 10 * time.Second

// portForwarder is one port-forward session: one upgraded connection, many
// forwarded TCP connections, each an (error, data) stream pair.
type portForwarder struct {
	log     *slog.Logger
	podName string
	podIP   net.IP
	conn    httpstream.Connection
	// streams carries the accepted streams from newStream to run.
	streams chan streamAndReply
	// done is closed when run returns: no more streams are taken.
	done chan struct{}
	// dialAddr joins host and port (net.JoinHostPort).
	dialAddr func(host, port string) string
}

// streamPair is the two streams of one forwarded connection.
type streamPair struct {
	id                  string
	errStream, data     httpstream.Stream
	errReply, dataReply <-chan struct{}
}

// run pairs the streams by requestID and forwards each complete pair,
// until the connection closes.
func (fw *portForwarder) run() {
	defer close(fw.done)
	defer fw.conn.Close()
	pending := map[string]*streamPair{}
	expired := make(chan *streamPair)
	for {
		select {
		case <-fw.conn.CloseChan():
			return
		case p := <-expired:
			if pending[p.id] != p {
				continue // completed meanwhile
			}
			delete(pending, p.id)
			fw.log.Debug("portforward: timed out waiting for the streams", "requestID", p.id)
			if p.errStream != nil {
				fmt.Fprintf(p.errStream, "timed out waiting for the data and error streams of request %s", p.id)
			}
			for _, st := range []httpstream.Stream{p.errStream, p.data} {
				if st != nil {
					st.Reset()
					fw.conn.RemoveStreams(st)
				}
			}
		case sr := <-fw.streams:
			id := sr.Headers().Get(corev1.PortForwardRequestIDHeader)
			if id == "" {
				// Clients older than requestID: pair an error stream with
				// the data stream that follows it (stream ids step by 2).
				id = strconv.FormatUint(uint64(sr.Identifier()), 10)
				if sr.Headers().Get(corev1.StreamType) == corev1.StreamTypeData {
					id = strconv.FormatUint(uint64(sr.Identifier()-2), 10)
				}
			}
			p := pending[id]
			if p == nil {
				p = &streamPair{id: id}
				pending[id] = p
				time.AfterFunc(streamCreationTimeout, func() {
					select {
					case expired <- p:
					case <-fw.done:
					}
				})
			}
			var dup bool
			if sr.Headers().Get(corev1.StreamType) == corev1.StreamTypeError {
				dup = p.errStream != nil
				if !dup {
					p.errStream, p.errReply = sr.Stream, sr.replySent
				}
			} else {
				dup = p.data != nil
				if !dup {
					p.data, p.dataReply = sr.Stream, sr.replySent
				}
			}
			if dup {
				fw.log.Debug("portforward: duplicate stream", "requestID", id)
				sr.Reset()
				fw.conn.RemoveStreams(sr.Stream)
				continue
			}
			if p.errStream != nil && p.data != nil {
				delete(pending, id)
				go fw.forward(p)
			}
		}
	}
}

// forward dials the pod's port and copies both ways. The client's end of
// the data stream half-closes the pod connection; the pod's end closes the
// data stream. A failure goes as text on the error stream, which is closed
// last (the client waits for it).
func (fw *portForwarder) forward(p *streamPair) {
	defer fw.conn.RemoveStreams(p.errStream, p.data)
	defer p.errStream.Close()
	for _, reply := range []<-chan struct{}{p.errReply, p.dataReply} {
		select {
		case <-reply:
		case <-fw.conn.CloseChan():
			return
		}
	}
	port, _ := parsePort(p.data.Headers().Get(corev1.PortHeader)) // checked in newStream
	if err := fw.relay(p.data, port); err != nil {
		msg := fmt.Sprintf("error forwarding port %d to pod %s: %v", port, fw.podName, err)
		fw.log.Debug("portforward", "requestID", p.id, "error", msg)
		io.WriteString(p.errStream, msg)
	}
}

// relay connects data to podIP:port until the pod's side ends.
func (fw *portForwarder) relay(data httpstream.Stream, port uint16) error {
	addr := fw.dialAddr(fw.podIP.String(), strconv.Itoa(int(port)))
	c, err := net.DialTimeout("tcp", addr, portForwardDialTimeout)
	if err != nil {
		data.Reset()
		return err
	}
	defer c.Close()
	// Tear the pod connection down when the session ends.
	relayDone := make(chan struct{})
	defer close(relayDone)
	go func() {
		select {
		case <-fw.conn.CloseChan():
			c.Close()
		case <-relayDone:
		}
	}()

	go func() {
		// Client to pod; the client's half-close (or reset) becomes a
		// half-close toward the pod.
		io.Copy(c, data)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	// Pod to client, until the pod closes. A failure here means the client
	// reset the stream or the session ended: nobody is left to tell.
	if _, err := io.Copy(data, c); err != nil {
		fw.log.Debug("portforward: copy from the pod", "error", err)
		data.Reset()
		return nil
	}
	data.Close()
	return nil
}
