package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// A node that leaves the cluster for good (`shoal leave`) first hands
// leadership over, if it holds it, then asks the leader to remove it from
// the configuration:
//
//	POST /removeserver  body: {"id": ID}  -> forwardResponse{Index}
//
// over the forwarding RPC. Only the leader serves it (a follower answers
// "retry"); it refuses to remove itself (the leaving node hands leadership
// over first, so a request naming the leader is a mistake) and the last
// voter. Removing an ID that is not in the configuration succeeds, so a
// repeated leave is harmless. Any holder of a node certificate may call it,
// as it may forward any write.

// ErrLastVoter is returned when a removal would leave the cluster without
// a voter.
var ErrLastVoter = errors.New("the cluster's only raft voter cannot leave: no other member could take over the store")

type removeServerRequest struct {
	ID string `json:"id"`
}

// TransferLeadership hands leadership to another voter when this node is
// the leader, and waits until another node leads. It returns at once on a
// follower.
func (r *Raft) TransferLeadership(ctx context.Context) error {
	if !r.IsLeader() {
		return nil
	}
	if err := r.canLose(r.cfg.NodeID); err != nil {
		return err
	}
	if err := r.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("consensus: leadership transfer: %w", err)
	}
	// The transfer's future ends when the target has been told to start
	// an election; wait until someone else has won it.
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := r.Leader(); id != "" && id != r.cfg.NodeID {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("consensus: leadership transfer: waiting for a new leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// RemoveSelf asks the leader to remove this node from the raft
// configuration and returns once the removal is committed. The node must
// not lead (TransferLeadership first). Once removed, this raft takes no
// part in the cluster any more: shut it down.
func (r *Raft) RemoveSelf(ctx context.Context) error {
	return r.withRetry(ctx, func() (bool, error) {
		if r.IsLeader() {
			return false, fmt.Errorf("consensus: remove %s: it leads the cluster; transfer leadership first", r.cfg.NodeID)
		}
		_, addr := r.Leader()
		if addr == "" || addr == r.advertise {
			return true, errNoLeader
		}
		resp, err := r.fwd.call(ctx, addr, "/removeserver", removeServerRequest{ID: r.cfg.NodeID})
		if err != nil {
			var de *dialError
			return errors.As(err, &de), fmt.Errorf("consensus: remove %s at leader %s: %w", r.cfg.NodeID, addr, err)
		}
		if resp.Kind == kindRetry {
			return true, resp.err()
		}
		return false, resp.err()
	})
}

// canLose says whether the configuration may lose server id: some other
// voter must remain.
func (r *Raft) canLose(id string) error {
	servers, err := r.Servers()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(servers, func(s Server) bool { return s.Voter && s.ID != id }) {
		return nil
	}
	return fmt.Errorf("consensus: remove %s: %w", id, ErrLastVoter)
}

func (f *forwarder) handleRemoveServer(w http.ResponseWriter, req *http.Request) {
	var resp forwardResponse
	var in removeServerRequest
	if err := json.NewDecoder(io.LimitReader(req.Body, 4096)).Decode(&in); err != nil || in.ID == "" {
		resp.setErr(fmt.Errorf("%w: decode remove-server request: want {\"id\": ID}", ErrInvalid))
		writeForward(w, &resp)
		return
	}
	r := f.r
	servers, err := r.Servers()
	switch {
	case !r.IsLeader():
		resp.Kind, resp.Message = kindRetry, "not the leader"
	case err != nil:
		resp.setErr(err)
	case in.ID == r.cfg.NodeID:
		resp.setErr(fmt.Errorf("%w: the leader %s does not remove itself; it transfers leadership first", ErrInvalid, in.ID))
	case !slices.ContainsFunc(servers, func(s Server) bool { return s.ID == in.ID }):
		// Already gone: a repeated leave.
	default:
		if err := r.canLose(in.ID); err != nil {
			resp.setErr(err)
			break
		}
		if err := r.RemoveServer(in.ID); err != nil {
			if errors.Is(err, ErrNotLeader) {
				resp.Kind, resp.Message = kindRetry, err.Error()
				break
			}
			resp.setErr(err)
			break
		}
		r.logger.Info("removed a leaving server from raft", "node_id", in.ID)
	}
	writeForward(w, &resp)
}
