package consensus

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// RaftConfig configures a node's raft instance.
type RaftConfig struct {
	// NodeID is this node's raft server id; stable across restarts.
	NodeID string
	// DataDir holds the raft state: the raft-wal log and stable store in
	// DataDir/wal, file snapshots in DataDir/snapshots (2 retained).
	DataDir string
	// BindAddr is the host:port the raft listener binds (port 0 = any).
	BindAddr string
	// AdvertiseAddr is how other nodes reach the listener; "" = the bound
	// address (fine for tests, wrong for 0.0.0.0 binds).
	AdvertiseAddr string
	// ServerTLS and ClientTLS secure node-to-node traffic (raft and write
	// forwarding) with mutual TLS. Both nil = plain TCP, for unit tests
	// only. A ClientTLS without ServerName verifies the dialed host.
	ServerTLS, ClientTLS *tls.Config
	// Bootstrap makes this node the single voter of a new cluster when it
	// has no raft state yet; ignored when state exists.
	Bootstrap bool
	// Logger receives raft's logs (component "raft"); nil discards them.
	Logger *slog.Logger
	// Tuning holds timeouts and snapshot policy; zero fields take defaults.
	Tuning RaftTuning
}

// RaftTuning holds raft timing and snapshot policy. Zero values take the
// defaults noted per field, suited to a LAN.
type RaftTuning struct {
	// HeartbeatTimeout: follower timeout without leader contact before it
	// starts an election (default 500ms).
	HeartbeatTimeout time.Duration
	// ElectionTimeout: candidate timeout without a result (default 500ms).
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: how long a leader stays leader without reaching a
	// quorum (default HeartbeatTimeout/2; must not exceed HeartbeatTimeout).
	LeaderLeaseTimeout time.Duration
	// CommitTimeout: the longest a follower waits to learn of a commit
	// (default 5ms, so a follower answering a forwarded write learns of its commit quickly).
	CommitTimeout time.Duration
	// SnapshotThreshold: log entries since the last snapshot that trigger
	// one (default 8192).
	SnapshotThreshold uint64
	// SnapshotInterval: how often the threshold is checked, staggered
	// between 1x and 2x (default 5s). The check is cheap; a long interval
	// lets an agent that is restarted more often than it (raft's default,
	// 2m) never snapshot, so its log, and the replay at every start, grow
	// without bound: in a 200-round chaos run the log reached 280,000
	// entries past the last snapshot, a start took seconds and a follower
	// applying that backlog answered the leader only after 10s.
	SnapshotInterval time.Duration
	// TrailingLogs: entries kept after a snapshot so slow followers catch up
	// from the log instead of a snapshot (default 10240).
	TrailingLogs uint64
	// WALSegmentSize: size of the raft-wal log's segment files (default
	// raft-wal's, 64 MiB). Small segments make the log rotate and compact
	// whole files often (the crash tests use them).
	WALSegmentSize int
}

func (c *RaftConfig) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("consensus: RaftConfig.NodeID is required")
	case c.DataDir == "":
		return errors.New("consensus: RaftConfig.DataDir is required")
	case c.BindAddr == "":
		return errors.New("consensus: RaftConfig.BindAddr is required")
	}
	return nil
}

// raftConfig builds hashicorp/raft's configuration.
func (c *RaftConfig) raftConfig() *raft.Config {
	t := c.Tuning
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = orDuration(t.HeartbeatTimeout, 500*time.Millisecond)
	rc.ElectionTimeout = orDuration(t.ElectionTimeout, 500*time.Millisecond)
	rc.LeaderLeaseTimeout = orDuration(t.LeaderLeaseTimeout, rc.HeartbeatTimeout/2)
	if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}
	if rc.ElectionTimeout < rc.HeartbeatTimeout {
		rc.ElectionTimeout = rc.HeartbeatTimeout
	}
	rc.CommitTimeout = orDuration(t.CommitTimeout, 5*time.Millisecond)
	rc.SnapshotThreshold = orUint(t.SnapshotThreshold, 8192)
	rc.SnapshotInterval = orDuration(t.SnapshotInterval, 5*time.Second)
	rc.TrailingLogs = orUint(t.TrailingLogs, 10240)
	// Writers hand their entries to the leader loop without waiting for it
	// to take each one, and it takes them in batches. Raft's Apply timeout
	// then bounds less (an entry may wait in the buffer past it), which
	// matters not: applyLocal waits for the outcome anyway, and a leader
	// that steps down answers what it buffered with ErrNotLeader.
	rc.BatchApplyCh = true
	return rc
}

func orDuration(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func orUint(v, def uint64) uint64 {
	if v > 0 {
		return v
	}
	return def
}
