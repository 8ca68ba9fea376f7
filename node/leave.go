package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
)

// LeavePath is where a node's API takes `shoal leave`'s last step, once
// the node is drained (authenticated clients only):
//
//	GET  /shoal/v1/leave  -> 200 LeaveStatus, or 409 with why the node cannot leave
//	POST /shoal/v1/leave  -> 200, text/plain, one line per step as it happens;
//	                         the last line is "left" when every step succeeded.
//	                         The agent then stops.
//
// The node leaves from its own API only: the request is served by the node
// that leaves, whichever node the client reached.
const LeavePath = "/shoal/v1/leave"

// leftFile marks a data dir whose node left its cluster: its raft state
// names a configuration it is no longer part of, so an agent must not
// start on it again (it would call elections the others ignore, and
// gossip would bring it back as a member); `shoal reset` removes it.
const leftFile = "left"

// leaveTimeout bounds the leave steps; they run to the end even when the
// client goes away, since a node half out of the cluster helps no one.
const leaveTimeout = 2 * time.Minute

// LeaveStatus is what GET LeavePath answers.
type LeaveStatus struct {
	Node string `json:"node"`
	// RaftRole is "leader", "voter", "non-voter" or "" (not in raft).
	RaftRole string `json:"raftRole,omitempty"`
}

// HasLeft reports whether the node of dataDir left its cluster (`shoal
// leave` finished), and when.
func HasLeft(dataDir string) (time.Time, bool) {
	st, err := os.Stat(filepath.Join(dataDir, leftFile))
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}

// checkNotLeft refuses a data dir whose node left its cluster.
func checkNotLeft(dataDir string) error {
	if at, ok := HasLeft(dataDir); ok {
		return fmt.Errorf("the node of %s left its cluster at %s (shoal leave): run `shoal reset --data-dir %s` before starting an agent there again",
			dataDir, at.UTC().Format(time.RFC3339), dataDir)
	}
	return nil
}

// canLeave says why this node cannot leave, if it cannot: it is the only
// voter, so nobody could take over the store.
func (n *Node) canLeave() (LeaveStatus, error) {
	st := LeaveStatus{Node: n.cfg.Name, RaftRole: n.raft.Roles()[n.cfg.Name]}
	servers, err := n.raft.Servers()
	if err != nil {
		return st, err
	}
	self := slices.ContainsFunc(servers, func(s consensus.Server) bool { return s.ID == n.cfg.Name && s.Voter })
	other := slices.ContainsFunc(servers, func(s consensus.Server) bool { return s.ID != n.cfg.Name && s.Voter })
	if self && !other {
		return st, fmt.Errorf("node %s is the cluster's only raft voter: %w", n.cfg.Name, consensus.ErrLastVoter)
	}
	return st, nil
}

// leaveHandler serves LeavePath. stop ends the agent's Run.
func (n *Node) leaveHandler(stop func()) http.Handler {
	var leaving = make(chan struct{}, 1) // one leave at a time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			st, err := n.canLeave()
			if err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st)
		case http.MethodPost:
			select {
			case leaving <- struct{}{}:
			default:
				http.Error(w, "node "+n.cfg.Name+" is already leaving", http.StatusConflict)
				return
			}
			if _, err := n.canLeave(); err != nil {
				<-leaving
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			say := func(format string, args ...any) {
				line := fmt.Sprintf(format, args...)
				n.log.Info("leave: " + line)
				fmt.Fprintln(w, line)
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), leaveTimeout)
			defer cancel()
			if err := n.leave(ctx, say); err != nil {
				say("error: %v", err)
				<-leaving
				return
			}
			say("left")
			stop()
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "leave: only GET and POST", http.StatusMethodNotAllowed)
		}
	})
}

// leave takes the (drained) node out of its cluster, in the order that
// keeps the others' view straight: leadership goes first (a leader cannot
// remove itself); gossip next, so that the leader's voter manager sees the
// node Left and never adds it back as a non-voter (nor the node lifecycle
// controller its Node object); its Node object; then raft, through the
// leader; last the mark that keeps an agent from starting here again.
func (n *Node) leave(ctx context.Context, say func(string, ...any)) error {
	if n.raft.IsLeader() {
		say("handing raft leadership over")
		if err := n.raft.TransferLeadership(ctx); err != nil {
			return err
		}
		id, _ := n.raft.Leader()
		say("raft leadership handed to %s", id)
	}
	if err := n.gossip.Leave(5 * time.Second); err != nil {
		return err
	}
	say("left gossip")
	// While this node is still in raft, so that the write goes through: a
	// Node object is made only for members alive in gossip, so it stays
	// gone (`kubectl delete node` after a drain, done for the user).
	client, err := n.selfClient()
	if err != nil {
		return err
	}
	if err := client.CoreV1().Nodes().Delete(ctx, n.cfg.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node/%s: %w", n.cfg.Name, err)
	}
	say("node/%s deleted", n.cfg.Name)
	if err := n.raft.RemoveSelf(ctx); err != nil {
		return err
	}
	id, _ := n.raft.Leader()
	say("removed from raft by the leader %s", id)
	if err := os.WriteFile(filepath.Join(n.cfg.DataDir, leftFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return fmt.Errorf("mark %s as left: %w", n.cfg.DataDir, err)
	}
	say("stopping the agent")
	return nil
}

// errLeft ends Run after a leave.
var errLeft = errors.New("the node left its cluster")

// AgentRunning reports whether an agent runs on dataDir: it holds the
// lock of its raft log (what the data-dir preflight check tests).
func AgentRunning(dataDir string) (bool, error) {
	err := consensus.CheckRaftLogFree(raftDir(dataDir))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, consensus.ErrRaftInUse):
		return true, nil
	}
	return false, fmt.Errorf("is an agent running on %s: %w", dataDir, err)
}
