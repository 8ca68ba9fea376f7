package consensus

import (
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// RaftStatus is a point-in-time view of this node's raft instance, for
// metrics and diagnostics. Reading it takes no lock that raft's main loop
// holds for long.
type RaftStatus struct {
	// State is "leader", "follower", "candidate" or "shutdown".
	State string
	// Term is the current term.
	Term uint64
	// LastLogIndex, CommitIndex and AppliedIndex are the last index in the
	// log, the last index known committed, and the last index the FSM
	// applied.
	LastLogIndex, CommitIndex, AppliedIndex uint64
	// LastContact is how long ago the leader was last heard from: 0 on the
	// leader itself, -1 when no leader was ever heard from.
	LastContact time.Duration
	// Voters and NonVoters count the servers of the latest configuration
	// by suffrage (both 0 when raft cannot say, e.g. shut down).
	Voters, NonVoters int
	// Features is every gated feature this binary knows, true where this
	// node leads and has turned it on (features.go).
	Features map[string]bool
	// CompressedApplied counts the compressed entries this node's store
	// applied since the process started.
	CompressedApplied uint64
	// FramedApplied counts the framed entries this node's store applied
	// since it started (FeatureFramedCommands).
	FramedApplied uint64
}

// RaftStates lists every value RaftStatus.State takes, in a fixed order.
var RaftStates = []string{"leader", "follower", "candidate", "shutdown"}

// Status reads this node's raft status.
func (r *Raft) Status() RaftStatus {
	st := r.raft.State()
	s := RaftStatus{
		State:        strings.ToLower(st.String()),
		Term:         r.raft.CurrentTerm(),
		LastLogIndex: r.raft.LastIndex(),
		CommitIndex:  r.raft.CommitIndex(),
		AppliedIndex: r.raft.AppliedIndex(),
		LastContact:  -1,
		Features:     make(map[string]bool, len(features)),

		CompressedApplied: r.fsm.compressed.Load(),
		FramedApplied:     r.fsm.framed.Load(),
	}
	for _, f := range features {
		s.Features[f.Name] = r.FeatureEnabled(f)
	}
	switch last := r.raft.LastContact(); {
	case st == raft.Leader:
		s.LastContact = 0
	case !last.IsZero():
		s.LastContact = time.Since(last)
	}
	if f := r.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				s.Voters++
			} else {
				s.NonVoters++
			}
		}
	}
	return s
}
