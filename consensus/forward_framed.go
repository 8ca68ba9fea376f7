package consensus

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The framed forwarding RPC (since v0.3.0): a follower sends the
// msgFramed entry of its command as it is, and the leader answers with
// the resulting object's JSON beside a small JSON header, so neither side
// re-encodes or re-scans the object.
//
//	POST /apply-framed  body: a msgFramed entry
//	                    answer: uvarint n | n bytes: forwardResponse without the object's raw | the object's raw
//
// A leader older than v0.3.0 answers 404; the follower then sends the
// command as JSON to /apply.

// errFramedUnknown is a leader's 404 for /apply-framed: it predates it.
var errFramedUnknown = errors.New("leader does not serve /apply-framed")

// callFramed posts the msgFramed entry to the leader at addr.
func (f *forwarder) callFramed(ctx context.Context, addr string, entry []byte) (*forwardResponse, error) {
	answer, err := f.post(ctx, addr, "/apply-framed", "application/octet-stream", entry)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return nil, errFramedUnknown
	}
	if err != nil {
		return nil, err
	}
	defer answer.Close()
	body, err := io.ReadAll(io.LimitReader(answer, maxForwardBody+4096))
	if err != nil {
		return nil, fmt.Errorf("forward /apply-framed: read answer: %w", err)
	}
	out, err := decodeFramedAnswer(body)
	if err != nil {
		return nil, fmt.Errorf("forward /apply-framed: %w", err)
	}
	return out, nil
}

func (f *forwarder) handleApplyFramed(w http.ResponseWriter, req *http.Request) {
	var resp forwardResponse
	entry, err := io.ReadAll(io.LimitReader(req.Body, maxForwardBody+1))
	switch {
	case err != nil:
		resp.setErr(fmt.Errorf("%w: read forwarded entry: %v", ErrInvalid, err))
	case len(entry) > maxForwardBody:
		resp.setErr(fmt.Errorf("%w: forwarded entry over %d bytes", ErrInvalid, maxForwardBody))
	default:
		f.applyForwarded(req.Context(), entry, &resp)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(encodeFramedAnswer(&resp))
}

// applyForwarded applies a follower's msgFramed entry on this leader and
// fills resp.
func (f *forwarder) applyForwarded(ctx context.Context, entry []byte, resp *forwardResponse) {
	if len(entry) == 0 || msgType(entry[0]) != msgFramed {
		resp.setErr(fmt.Errorf("%w: forwarded entry is not a framed command", ErrInvalid))
		return
	}
	// Decoded strictly, as the FSM will: a follower newer than this
	// leader may have set a field this leader would drop.
	cmd, err := decodeFramed(entry[1:])
	if err != nil {
		resp.setErr(fmt.Errorf("%w: decode forwarded command: %v", ErrInvalid, err))
		return
	}
	if !f.r.FeatureEnabled(FeatureFramedCommands) {
		// Some server cannot read framed entries yet.
		if entry, err = encodeCommand(cmd); err != nil {
			resp.setErr(err)
			return
		}
	}
	f.applyAnswer(ctx, entry, resp)
}

// encodeFramedAnswer encodes resp with its object's raw JSON after the
// header.
func encodeFramedAnswer(resp *forwardResponse) []byte {
	var raw []byte
	if resp.Object != nil {
		o := *resp.Object
		raw, o.Raw = o.Raw, nil
		resp.Object = &o
	}
	hb, err := json.Marshal(resp)
	if err != nil {
		// Only strings and numbers: it does not fail.
		hb = []byte(`{"kind":"` + kindInternal + `"}`)
	}
	buf := make([]byte, 0, binary.MaxVarintLen64+len(hb)+len(raw))
	buf = binary.AppendUvarint(buf, uint64(len(hb)))
	buf = append(buf, hb...)
	return append(buf, raw...)
}

func decodeFramedAnswer(body []byte) (*forwardResponse, error) {
	n, w := binary.Uvarint(body)
	if w <= 0 || n > uint64(len(body)-w) {
		return nil, fmt.Errorf("answer: bad header length")
	}
	var out forwardResponse
	if err := json.Unmarshal(body[w:w+int(n)], &out); err != nil {
		return nil, fmt.Errorf("answer header: %w", err)
	}
	if raw := body[w+int(n):]; len(raw) > 0 {
		if out.Object == nil {
			return nil, fmt.Errorf("answer: an object's JSON without its header")
		}
		out.Object.Raw = raw
	}
	return &out, nil
}
