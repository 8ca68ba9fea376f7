package streaming

import (
	"io"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/shoal-project/shoal/runtime"
)

// The WebSocket subprotocols exec accepts. v5 adds the close signal (255)
// that half-closes stdin; wsstream only honours it on the binary v5.
// Protocols before v4 report errors as text, not as a Status, and no
// current client needs them.
var wsExecProtocols = []string{
	remotecommand.StreamProtocolV5Name,
	remotecommand.StreamProtocolV4Name,
	"v4.base64.channel.k8s.io",
}

// Channel numbers of the remote-command protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// openWebSocket upgrades to a channel WebSocket. It returns nil when the
// handshake failed (the answer is written).
func (s *NodeServer) openWebSocket(w http.ResponseWriter, r *http.Request, er execRequest) *execSession {
	channels := []wsstream.ChannelType{
		chanStdin:  wsstream.IgnoreChannel,
		chanStdout: wsstream.IgnoreChannel,
		chanStderr: wsstream.IgnoreChannel,
		chanError:  wsstream.WriteChannel,
		// Always read: when it ends the client is gone (clients never
		// close it), which cancels the command.
		chanResize: wsstream.ReadChannel,
	}
	if er.stdin {
		channels[chanStdin] = wsstream.ReadChannel
	}
	if er.stdout {
		channels[chanStdout] = wsstream.WriteChannel
	}
	if er.stderr {
		channels[chanStderr] = wsstream.WriteChannel
	}
	protocols := make(map[string]wsstream.ChannelProtocolConfig, len(wsExecProtocols))
	for _, p := range wsExecProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: p != "v4.base64.channel.k8s.io", Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(s.cfg.IdleTimeout)
	proto, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("exec websocket handshake failed", "error", err)
		return nil
	}
	s.log.Debug("exec websocket open", "protocol", proto)
	gone := make(chan struct{})
	sess := &execSession{
		gone: gone,
		status: func(st *metav1.Status) error {
			_, err := streams[chanError].Write(statusJSON(st))
			return err
		},
		close: func() { conn.Close() },
	}
	if er.stdin {
		sess.stdin = streams[chanStdin]
	}
	if er.stdout {
		sess.stdout = streams[chanStdout]
	}
	if er.stderr {
		sess.stderr = streams[chanStderr]
	}
	if er.tty {
		resize := make(chan runtime.TerminalSize, 1)
		sess.resize = resize
		go func() {
			readResizes(streams[chanResize], resize)
			io.Copy(io.Discard, streams[chanResize])
			close(gone)
		}()
	} else {
		go func() {
			io.Copy(io.Discard, streams[chanResize])
			close(gone)
		}()
	}
	return sess
}
