package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// PeersFile is the file in a node's data dir that lists the gossip
// addresses of the peers it last saw alive (a JSON array of HOST:PORT):
// what a restarted node joins again.
const PeersFile = "peers.json"

// DefaultRejoinInterval is how often RunRejoin retries a rejoin that found
// no peer.
const DefaultRejoinInterval = 2 * time.Second

// SavedPeers reads the peers saved in dataDir; none (and no error) when
// the file does not exist.
func SavedPeers(dataDir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, PeersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read saved gossip peers: %w", err)
	}
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		return nil, fmt.Errorf("read saved gossip peers: %s: %w", filepath.Join(dataDir, PeersFile), err)
	}
	return addrs, nil
}

// SavePeers replaces the peers saved in dataDir, atomically: a crash
// leaves the old list or the new one.
func SavePeers(dataDir string, addrs []string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return fmt.Errorf("save gossip peers: %w", err)
	}
	path := filepath.Join(dataDir, PeersFile)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("save gossip peers: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("save gossip peers: %w", err)
	}
	return nil
}

// ForgetPeers removes the peers saved in dataDir and returns them, so that
// a restarted node neither waits for nor keeps calling members that are
// gone (a cluster recovered from the loss of its quorum).
func ForgetPeers(dataDir string) ([]string, error) {
	addrs, _ := SavedPeers(dataDir) // an unreadable list is forgotten all the same
	if err := os.Remove(filepath.Join(dataDir, PeersFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return addrs, fmt.Errorf("forget the old gossip peers: %w", err)
	}
	return addrs, nil
}

// RejoinConfig says whom RunRejoin contacts.
type RejoinConfig struct {
	// DataDir is where the peers are saved (PeersFile).
	DataDir string
	// Join are the addresses the node was started with (--join); they are
	// contacted with the saved peers, which may all be gone by now.
	Join []string
	// Joined says that this start has already joined (a first join through
	// Join): RunRejoin then only keeps the saved peers current.
	Joined bool
	// Interval is how often a rejoin that found nobody is retried; default
	// DefaultRejoinInterval.
	Interval time.Duration
}

// RunRejoin keeps the gossip addresses of the alive peers saved in the
// data dir and, on a restart, joins the saved peers and the Join addresses
// again, retrying until one answers. It returns when ctx ends. Without it a
// restarted node would wait for the others to find it, which they do only
// if its address did not change (RunReconnect).
func (m *Membership) RunRejoin(ctx context.Context, cfg RejoinConfig) error {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultRejoinInterval
	}
	saved, err := SavedPeers(cfg.DataDir)
	if err != nil {
		m.logger.Warn("saved gossip peers ignored", "error", err)
	}
	targets := slices.Clone(saved)
	for _, a := range cfg.Join {
		if !slices.Contains(targets, a) {
			targets = append(targets, a)
		}
	}
	joined := cfg.Joined || len(targets) == 0
	changes, cancel := m.Subscribe()
	defer cancel()
	retry := time.NewTicker(cfg.Interval)
	defer retry.Stop()
	for {
		if !joined {
			if err := m.Join(ctx, targets); err == nil {
				joined = true
				m.logger.Info("rejoined gossip", "peers", targets)
			} else {
				m.logger.Debug("rejoin gossip", "error", err)
			}
		}
		if addrs := m.alivePeerAddrs(); len(addrs) > 0 && !slices.Equal(addrs, saved) {
			if err := SavePeers(cfg.DataDir, addrs); err != nil {
				m.logger.Warn("save gossip peers", "error", err)
			} else {
				saved = addrs
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
		case <-retry.C:
		}
	}
}

// alivePeerAddrs lists the gossip addresses of the alive members other
// than this node, sorted.
func (m *Membership) alivePeerAddrs() []string {
	var addrs []string
	for _, mem := range m.Members() {
		if mem.Name != m.cfg.Name && mem.State == Alive {
			addrs = append(addrs, mem.Addr)
		}
	}
	slices.Sort(addrs)
	return addrs
}

// PeerAPIAddrs lists the API addresses (HOST:PORT) that the alive members
// other than this node advertise in their metadata: where a joining node
// asks for the cluster identity.
func (m *Membership) PeerAPIAddrs() []string {
	var addrs []string
	for _, mem := range m.Members() {
		if mem.Name != m.cfg.Name && mem.State == Alive && mem.Meta.APIAddr != "" {
			addrs = append(addrs, mem.Meta.APIAddr)
		}
	}
	return addrs
}

// NumMembers is how many members this node has seen, itself included,
// whatever their state.
func (m *Membership) NumMembers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.members)
}
