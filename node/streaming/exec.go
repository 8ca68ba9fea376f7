package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/shoal-project/shoal/node/apiserver/wire"
	"github.com/shoal-project/shoal/runtime"
)

// execRequest is one parsed exec query (PodExecOptions).
type execRequest struct {
	container string
	command   []string
	stdin     bool
	stdout    bool
	// stderr is what the runtime gets (never with a TTY); stderrParam is
	// what the client asked for, hence whether it opens a stderr stream.
	stderr, stderrParam bool
	tty                 bool
}

func parseExecQuery(q url.Values) (execRequest, error) {
	er := execRequest{container: q.Get("container"), command: q["command"]}
	var bad []string
	for key, dst := range map[string]*bool{"stdin": &er.stdin, "stdout": &er.stdout, "stderr": &er.stderrParam, "tty": &er.tty} {
		if v := q.Get(key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad = append(bad, key)
			}
			*dst = b
		}
	}
	switch {
	case len(bad) > 0:
		return er, apierrors.NewBadRequest(fmt.Sprintf("invalid query parameters %v", bad))
	case len(er.command) == 0:
		return er, apierrors.NewBadRequest("you must specify at least 1 command")
	case !er.stdin && !er.stdout && !er.stderrParam:
		return er, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	// With a TTY, stderr is merged into stdout by the terminal, as kubelet
	// does it.
	er.stderr = er.stderrParam && !er.tty
	return er, nil
}

// execSession is the client's end of one exec, whatever the transport.
type execSession struct {
	stdin          io.Reader // nil unless requested
	stdout, stderr io.Writer // nil unless requested
	// resize carries terminal sizes (TTY only); the transport closes it.
	resize <-chan runtime.TerminalSize
	// gone is closed when the client connection is gone.
	gone <-chan struct{}
	// status sends the final Status on the error channel.
	status func(*metav1.Status) error
	// close tears the connection down.
	close func()
}

// serveExec answers GET (WebSocket) or POST (SPDY) .../{ns}/{name}/exec.
func (s *NodeServer) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	er, err := parseExecQuery(r.URL.Query())
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	id, err := s.locate(ns, name, er.container, false)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	var sess *execSession
	switch {
	case wsstream.IsWebSocketRequest(r):
		sess = s.openWebSocket(w, r, er)
	case httpstream.IsUpgradeRequest(r) && strings.EqualFold(r.Header.Get(httpstream.HeaderUpgrade), spdy.HeaderSpdy31):
		sess = s.openSPDY(w, r, er)
	default:
		wire.WriteStatus(w, apierrors.NewBadRequest("Upgrade request required"))
		return
	}
	if sess == nil {
		return // the transport has answered
	}
	defer sess.close()
	s.log.Debug("exec", "namespace", ns, "pod", name, "container", er.container, "container_id", id, "tty", er.tty)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-sess.gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	streams := runtime.ExecStreams{TTY: er.tty, Resize: sess.resize}
	// Unrequested streams stay nil interfaces: the runtime does not attach
	// them.
	if sess.stdin != nil {
		streams.Stdin = sess.stdin
	}
	if sess.stdout != nil {
		streams.Stdout = sess.stdout
	}
	if sess.stderr != nil {
		streams.Stderr = sess.stderr
	}
	code, err := s.cfg.Runtime.Exec(ctx, id, er.command, streams)
	if err := sess.status(execStatus(er.command, code, err)); err != nil {
		s.log.Debug("exec status not delivered", "namespace", ns, "pod", name, "error", err)
	}
}

// execStatus is what the error channel reports: Success, NonZeroExitCode
// with an ExitCode cause (the client exits with it), or an internal error.
func execStatus(cmd []string, code int, err error) *metav1.Status {
	switch {
	case err != nil:
		st := apierrors.NewInternalError(fmt.Errorf("error executing command in container: %w", err)).Status()
		return &st
	case code == 0:
		return &metav1.Status{Status: metav1.StatusSuccess}
	}
	if code < 0 || code > 255 {
		code &= 0xff // as a shell reports it; the client parses a uint8
	}
	return &metav1.Status{
		Status:  metav1.StatusFailure,
		Reason:  remotecommand.NonZeroExitCodeReason,
		Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command %v, exit code %d", cmd, code),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type:    remotecommand.ExitCodeCauseType,
			Message: strconv.Itoa(code),
		}}},
	}
}

// readResizes decodes the client's {"Width":W,"Height":H} messages until r
// ends, keeping only the newest size when the runtime is slow. It closes out.
func readResizes(r io.Reader, out chan runtime.TerminalSize) {
	defer close(out)
	dec := json.NewDecoder(r)
	for {
		var size runtime.TerminalSize
		if err := dec.Decode(&size); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				io.Copy(io.Discard, r) // a bad message: ignore resizes from now on
			}
			return
		}
		for {
			select {
			case out <- size:
			default:
				select {
				case <-out: // drop the stale size
				default:
				}
				continue
			}
			break
		}
	}
}
