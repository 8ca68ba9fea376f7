package membership

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node publishes about itself in gossip: how to reach its API
// and raft, what it can run. It travels as JSON in memberlist node metadata,
// which is limited to 512 bytes (ErrMetaTooLarge).
type Meta struct {
	// APIAddr is the HTTPS API address, host:port.
	APIAddr string `json:"api,omitempty"`
	// RaftAddr is the raft transport address, host:port; the voter
	// reconciler adds the node to raft under this address.
	RaftAddr string `json:"raft,omitempty"`
	// Roles lists what the node does: RoleVoterEligible, RoleWorker,
	// RoleIngress.
	Roles []string `json:"roles,omitempty"`
	// CPU is the node's allocatable CPU in millicores.
	CPU int64 `json:"cpu,omitempty"`
	// MemoryBytes is the node's allocatable memory.
	MemoryBytes int64 `json:"mem,omitempty"`
	// Version is the shoal version the node runs.
	Version string `json:"version,omitempty"`
}

// wireMeta is what travels in memberlist node metadata: the node's Meta and
// a leave intent. memberlist's events do not say whether a node left or
// failed (Node.State is not maintained), so a leaving node first publishes
// Leaving=true and then leaves; NotifyLeave then reads Left for it (serf
// gossips a leave intent for the same reason).
type wireMeta struct {
	Meta
	Leaving bool `json:"leaving,omitempty"`
}

// encodeMeta encodes meta with the leave intent and checks memberlist's
// size limit.
func encodeMeta(meta Meta, leaving bool) ([]byte, error) {
	b, err := json.Marshal(wireMeta{Meta: meta, Leaving: leaving})
	if err != nil {
		return nil, fmt.Errorf("encode node metadata: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeMeta decodes node metadata; empty metadata is an empty Meta.
func decodeMeta(b []byte) (wireMeta, error) {
	var w wireMeta
	if len(b) == 0 {
		return w, nil
	}
	err := json.Unmarshal(b, &w)
	return w, err
}

// gossipDelegate implements memberlist.Delegate: it only publishes the node
// metadata. shoal sends no user messages or state over gossip; objects travel
// through raft.
type gossipDelegate struct{ m *Membership }

var _ memberlist.Delegate = gossipDelegate{}

// NodeMeta returns the current encoded Meta. It never blocks on Membership's
// lock: memberlist may call it while holding its own locks.
func (d gossipDelegate) NodeMeta(limit int) []byte {
	b := d.m.meta.Load()
	if b == nil || len(*b) > limit {
		return nil // unreachable: sizes are checked in New and UpdateMeta
	}
	return *b
}

// NotifyMsg ignores user messages (shoal sends none).
func (gossipDelegate) NotifyMsg([]byte) {}

// GetBroadcasts returns no user broadcasts.
func (gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState sends no user state in push/pull.
func (gossipDelegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores remote user state.
func (gossipDelegate) MergeRemoteState(buf []byte, join bool) {}
