package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// The forwarding RPC: HTTP/1.1 over the raft port (first byte forwardByte).
//
//	POST /apply      body: Command     -> forwardResponse{Index, Kind, Message, Object}
//	POST /readindex  body: {}          -> forwardResponse{Index}
//
// Only the leader serves them; a follower answers Kind "retry". The same
// server also answers POST /serverstats on every node (voters_stats.go)
// and, on the leader, POST /removeserver for a leaving node (raft_leave.go).

// maxForwardBody bounds a forwarded command.
const maxForwardBody = 64 << 20

type forwardResponse struct {
	Index   uint64      `json:"index,omitempty"`
	Kind    string      `json:"kind,omitempty"`
	Message string      `json:"message,omitempty"`
	Object  *wireObject `json:"object,omitempty"`
}

func (r *forwardResponse) err() error { return errorFromKind(r.Kind, r.Message) }

func (r *forwardResponse) setErr(err error) {
	r.Kind = errorKind(err)
	if err != nil {
		r.Message = err.Error()
	}
}

type wireObject struct {
	Resource        string            `json:"resource"`
	Namespace       string            `json:"namespace,omitempty"`
	Name            string            `json:"name"`
	ResourceVersion uint64            `json:"rv"`
	UID             string            `json:"uid,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Raw             json.RawMessage   `json:"raw,omitempty"`
}

func toWire(o *Object) *wireObject {
	if o == nil {
		return nil
	}
	return &wireObject{o.Resource, o.Namespace, o.Name, o.ResourceVersion, o.UID, o.Labels, o.Raw}
}

func (w *wireObject) object() *Object {
	if w == nil {
		return nil
	}
	return &Object{w.Resource, w.Namespace, w.Name, w.ResourceVersion, w.UID, w.Labels, []byte(w.Raw)}
}

// dialError marks a failure to reach the leader at all: the request was not
// sent, so retrying is safe.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial leader: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// forwarder holds both sides of the forwarding RPC.
type forwarder struct {
	r      *Raft
	server *http.Server
	client *http.Client
	dial   dialer

	// The forwarding streams (forward_stream.go): this node's to leaders,
	// by address, and those it serves.
	streamMu sync.Mutex
	streams  map[string]*streamClient
	noStream map[string]time.Time // leaders that refused it, until when
	served   map[net.Conn]struct{}
	servedWG sync.WaitGroup
	closed   bool
}

func newForwarder(r *Raft, d dialer) *forwarder {
	f := &forwarder{r: r, dial: d, streams: map[string]*streamClient{},
		noStream: map[string]time.Time{}, served: map[net.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", f.handleApply)
	mux.HandleFunc("POST /apply-framed", f.handleApplyFramed) // forward_framed.go
	mux.HandleFunc("POST /readindex", f.handleReadIndex)
	mux.HandleFunc("POST /serverstats", f.handleServerStats)   // voters_stats.go
	mux.HandleFunc("POST /removeserver", f.handleRemoveServer) // raft_leave.go
	f.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
	}
	f.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := d.dial(ctx, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			if _, err := c.Write([]byte{forwardByte}); err != nil {
				_ = c.Close()
				return nil, &dialError{err}
			}
			return c, nil
		},
		// Every forwarded write holds a connection for its whole round trip;
		// keep enough idle ones that a burst of concurrent writers does not
		// pay a mutual-TLS handshake per request.
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}}
	return f
}

// call posts in to the leader at addr and decodes its answer.
func (f *forwarder) call(ctx context.Context, addr, path string, in any) (*forwardResponse, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrInvalid, err)
	}
	answer, err := f.post(ctx, addr, path, "application/json", body)
	if err != nil {
		return nil, err
	}
	defer answer.Close()
	var out forwardResponse
	if err := json.NewDecoder(answer).Decode(&out); err != nil {
		return nil, fmt.Errorf("forward %s: decode answer: %w", path, err)
	}
	return &out, nil
}

// statusError is a leader's answer other than 200.
type statusError struct {
	path   string
	code   int
	status string
	msg    []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("forward %s: %s: %s", e.path, e.status, e.msg)
}

// post sends body to path on the leader at addr and returns the body of
// its 200 answer, for the caller to close; any other answer is a
// *statusError.
func (f *forwarder) post(ctx context.Context, addr, path, contentType string, body []byte) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("forward request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, &statusError{path: path, code: resp.StatusCode, status: resp.Status, msg: bytes.TrimSpace(msg)}
	}
	return resp.Body, nil
}

func (f *forwarder) handleApply(w http.ResponseWriter, req *http.Request) {
	var resp forwardResponse
	var cmd Command
	// Strict, as the FSM is: a field from a newer follower that this
	// leader dropped would be a different command than the one proposed.
	dec := json.NewDecoder(io.LimitReader(req.Body, maxForwardBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		resp.setErr(fmt.Errorf("%w: decode forwarded command: %v", ErrInvalid, err))
		writeForward(w, &resp)
		return
	}
	data, err := encodeCommand(&cmd)
	if err != nil {
		resp.setErr(err)
		writeForward(w, &resp)
		return
	}
	f.applyAnswer(req.Context(), data, &resp)
	writeForward(w, &resp)
}

// applyAnswer applies entry on this leader and fills resp with the outcome.
func (f *forwarder) applyAnswer(ctx context.Context, entry []byte, resp *forwardResponse) {
	res, idx, retry, err := f.r.applyLocal(ctx, entry)
	switch {
	case retry:
		resp.Kind, resp.Message = kindRetry, err.Error()
	case err != nil:
		resp.setErr(err)
	default:
		resp.Index = idx
		resp.setErr(res.Err)
		resp.Object = toWire(res.Object)
	}
}

func (f *forwarder) handleReadIndex(w http.ResponseWriter, req *http.Request) {
	var resp forwardResponse
	idx, retry, err := f.r.leaderReadIndex(req.Context())
	switch {
	case retry:
		resp.Kind, resp.Message = kindRetry, err.Error()
	case err != nil:
		resp.setErr(err)
	default:
		resp.Index = idx
	}
	writeForward(w, &resp)
}

func writeForward(w http.ResponseWriter, resp *forwardResponse) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
