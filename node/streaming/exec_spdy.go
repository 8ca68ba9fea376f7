package streaming

import (
	"errors"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/shoal-project/shoal/runtime"
)

// The SPDY subprotocols exec accepts (X-Stream-Protocol-Version); kubectl
// offers them when its WebSocket handshake fails. Over SPDY, v5 is v4:
// streams half-close natively.
var spdyExecProtocols = []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name}

// streamCreationTimeout bounds how long the client may take to open its
// streams after the upgrade.
const streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout

type streamAndReply struct {
	httpstream.Stream
	replySent <-chan struct{}
}

// openSPDY upgrades to SPDY/3.1 and waits for the client's streams. It
// returns nil when that failed (the answer is written, or the connection
// closed).
func (s *NodeServer) openSPDY(w http.ResponseWriter, r *http.Request, er execRequest) *execSession {
	if _, err := httpstream.Handshake(r, w, spdyExecProtocols); err != nil {
		s.log.Debug("exec spdy handshake failed", "error", err)
		return nil
	}
	streamCh := make(chan streamAndReply)
	stop := make(chan struct{}) // no more streams are taken
	var stopOnce sync.Once
	stopStreams := func() { stopOnce.Do(func() { close(stop) }) }
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streamCh <- streamAndReply{Stream: st, replySent: replySent}:
			return nil
		case <-stop:
			return errors.New("exec streams are already set up")
		}
	})
	if conn == nil {
		return nil
	}
	conn.SetIdleTimeout(s.cfg.IdleTimeout)
	fail := func(msg string) *execSession {
		s.log.Debug("exec spdy streams", "error", msg)
		stopStreams()
		conn.Close()
		return nil
	}

	expected := 1 // error
	for _, b := range []bool{er.stdin, er.stdout, er.stderrParam, er.tty} {
		if b {
			expected++
		}
	}
	streams := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timer := time.NewTimer(streamCreationTimeout)
	defer timer.Stop()
	for len(replies) < expected {
		select {
		case sr := <-streamCh:
			typ := sr.Headers().Get(corev1.StreamType)
			switch typ {
			case corev1.StreamTypeError, corev1.StreamTypeStdin, corev1.StreamTypeStdout, corev1.StreamTypeStderr, corev1.StreamTypeResize:
				streams[typ] = sr.Stream
			default:
				return fail("unexpected stream type " + typ)
			}
			replies = append(replies, sr.replySent)
		case <-timer.C:
			return fail("timed out waiting for the client to create streams")
		case <-conn.CloseChan():
			return fail("connection closed while creating streams")
		}
	}
	stopStreams()
	for _, reply := range replies {
		select {
		case <-reply:
		case <-timer.C:
			return fail("timed out waiting for the stream replies")
		}
	}
	errStream := streams[corev1.StreamTypeError]
	if errStream == nil {
		return fail("no error stream")
	}

	gone := make(chan struct{})
	go func() {
		<-conn.CloseChan()
		close(gone)
	}()
	sess := &execSession{
		gone: gone,
		status: func(st *metav1.Status) error {
			_, err := errStream.Write(statusJSON(st))
			errStream.Close()
			return err
		},
		close: func() {
			for _, st := range streams {
				st.Close()
			}
			conn.Close()
		},
	}
	if st := streams[corev1.StreamTypeStdin]; er.stdin && st != nil {
		sess.stdin = st
	}
	if st := streams[corev1.StreamTypeStdout]; er.stdout && st != nil {
		sess.stdout = st
	}
	if st := streams[corev1.StreamTypeStderr]; er.stderr && st != nil {
		sess.stderr = st
	}
	if st := streams[corev1.StreamTypeResize]; er.tty && st != nil {
		resize := make(chan runtime.TerminalSize, 1)
		sess.resize = resize
		go readResizes(st, resize)
	}
	return sess
}
