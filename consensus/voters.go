package consensus

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	autopilot "github.com/hashicorp/raft-autopilot"
)

// Voter management: the leader keeps the raft configuration in step with
// the nodes gossip knows, on consul's autopilot rules, with
// hashicorp/raft-autopilot doing the bookkeeping (server health from the
// stats RPC, how long it has held, applying changes) and shoal's rules in
// its promoter (voters_policy.go). New nodes join raft as non-voters; the
// rules promote and demote; nothing else changes suffrage.

// ServerStatus is what gossip says about a node.
type ServerStatus int

// Server statuses.
const (
	// ServerAlive: gossip hears from it (alive or only suspected).
	ServerAlive ServerStatus = iota + 1
	// ServerDead: gossip's failure detector declared it dead.
	ServerDead
	// ServerLeft: it announced a graceful leave.
	ServerLeft
)

// KnownServer is a node that may sit in the raft configuration, as gossip
// knows it.
type KnownServer struct {
	// ID is its raft server id (the node name).
	ID string
	// Address is the raft address it advertises.
	Address string
	// Status is gossip's verdict.
	Status ServerStatus
	// Version is the shoal version it publishes (internal/version); the
	// feature gate reads it (features.go).
	Version string
}

// ServerSource tells the voter manager which nodes exist; the node adapts
// gossip to it. Subscribe's channel receives a value after any change (the
// coalescing contract of membership.Subscribe).
type ServerSource interface {
	KnownServers() []KnownServer
	Subscribe() (<-chan struct{}, func())
}

// VotersConfig configures RunVoters. Zero durations take the defaults.
type VotersConfig struct {
	// Voters is the number of voters to keep: 1, 3, 5 or 7.
	Voters int
	// Grace is how long a voter must be down (not alive in gossip and not
	// answering the leader) before it may lose its vote. Default 15s.
	Grace time.Duration
	// Stabilization is how long a non-voter must be healthy without a
	// break before it may be promoted. Default 1s.
	Stabilization time.Duration
	// Reap is how long a non-voter must be down before it is removed from
	// the configuration. Default 1h.
	Reap time.Duration
	// Interval is how often server health is refreshed and the rules are
	// applied. Default 500ms.
	Interval time.Duration
	// Logger receives one line per change and per change of mind; nil
	// discards.
	Logger *slog.Logger
}

// Defaults of VotersConfig.
const (
	DefaultVoterGrace         = 15 * time.Second
	DefaultVoterStabilization = time.Second
	defaultVoterReap          = time.Hour
	defaultVoterInterval      = 500 * time.Millisecond
)

// Health thresholds (autopilot.Config): a server is healthy when it heard
// from the leader within lastContactThreshold (the leader sends heartbeats
// every tenth of the 500 ms heartbeat timeout) and its log trails the
// leader's by at most maxTrailingLogs entries.
const (
	lastContactThreshold = time.Second
	maxTrailingLogs      = 500
)

func (c VotersConfig) withDefaults() VotersConfig {
	c.Voters = max(c.Voters, 1)
	c.Grace = orDuration(c.Grace, DefaultVoterGrace)
	c.Stabilization = orDuration(c.Stabilization, DefaultVoterStabilization)
	c.Reap = orDuration(c.Reap, defaultVoterReap)
	c.Interval = orDuration(c.Interval, defaultVoterInterval)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// RunVoters manages raft voters while this node leads, until ctx ends (the
// node runs it among its leader loops); it then returns nil. It adds every
// node src knows that is alive and not yet in raft as a non-voter, and
// leaves promotions, demotions and removals to the rules of decide.
func (r *Raft) RunVoters(ctx context.Context, cfg VotersConfig, src ServerSource) error {
	m := newVoterManager(r, src, cfg.withDefaults(), time.Now)
	ap := autopilot.New(apRaft{m}, apDelegate{m},
		autopilot.WithPromoter(apPromoter{m}),
		autopilot.WithLogger(newHCLogAdapter(m.log, "autopilot")),
		autopilot.WithUpdateInterval(m.cfg.Interval),
		autopilot.WithReconcileInterval(m.cfg.Interval),
	)
	ap.Start(ctx)
	defer func() { <-ap.Stop() }()

	events, cancel := src.Subscribe()
	defer cancel()
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	for {
		m.addNewServers()
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
		case <-tick.C:
		}
	}
}

// voterManager is the state the autopilot adapters share during one term
// of leadership.
type voterManager struct {
	r           *Raft
	src         ServerSource
	cfg         VotersConfig
	log         *slog.Logger
	now         func() time.Time
	leaderSince time.Time

	// changeMu makes configuration changes one at a time, whoever asks
	// (autopilot's loop or addNewServers).
	changeMu sync.Mutex

	mu sync.Mutex
	// known is gossip's view at the last state update, by id.
	known map[string]KnownServer
	// unreachableSince is when each server first failed to answer the
	// stats RPC since it last answered.
	unreachableSince map[string]time.Time
	// configIndex is the latest configuration's index when last seen, and
	// configSeen when it was first seen.
	configIndex uint64
	configSeen  time.Time
	// healthy is each server's health in the last state, to log changes.
	healthy map[string]bool
	// lastWhy is the last reason logged for making no change.
	lastWhy string
}

func newVoterManager(r *Raft, src ServerSource, cfg VotersConfig, now func() time.Time) *voterManager {
	t := now()
	return &voterManager{
		r: r, src: src, cfg: cfg, log: cfg.Logger, now: now, leaderSince: t,
		known: map[string]KnownServer{}, unreachableSince: map[string]time.Time{},
		configSeen: t, healthy: map[string]bool{},
	}
}

// settle is how long the leader waits after taking office before it
// changes suffrage, and after each configuration change before the next:
// long enough for fresh health views (decision also checks that the view
// it uses was taken from the latest configuration).
func (m *voterManager) settle() (leader, change time.Duration) {
	return 2 * m.cfg.Interval, m.cfg.Interval / 2
}

// unsettled says why no change of suffrage may be made now ("" when one
// may): the latest configuration must be committed, and this leader and that
// configuration must both have settled.
func (m *voterManager) unsettled() string {
	f := m.r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return "raft configuration unreadable: " + err.Error()
	}
	idx, now := f.Index(), m.now()
	m.mu.Lock()
	if idx != m.configIndex {
		m.configIndex, m.configSeen = idx, now
	}
	seen := m.configSeen
	m.mu.Unlock()
	leader, change := m.settle()
	switch {
	case idx > m.r.raft.CommitIndex():
		return "a configuration change is not committed yet"
	case now.Sub(m.leaderSince) < leader:
		return "leader just elected"
	case now.Sub(seen) < change:
		return "configuration changed just now"
	}
	return ""
}

// committed says whether the latest configuration is committed.
func (m *voterManager) committed() bool {
	f := m.r.raft.GetConfiguration()
	return f.Error() == nil && f.Index() <= m.r.raft.CommitIndex()
}

// addNewServers adds each alive node that is not in raft as a non-voter,
// and moves a server whose node now advertises another address, once the
// latest configuration is committed. A non-voter does not count towards
// the quorum, so adding one never risks it, and joins need not wait for the
// leader to settle.
func (m *voterManager) addNewServers() {
	if !m.committed() {
		return
	}
	servers, err := m.r.Servers()
	if err != nil {
		m.log.Debug("voters: read configuration", "error", err)
		return
	}
	byID := map[string]Server{}
	byAddr := map[string]Server{}
	for _, s := range servers {
		byID[s.ID], byAddr[s.Address] = s, s
	}
	known := m.src.KnownServers()
	slices.SortFunc(known, func(a, b KnownServer) int { return cmp.Compare(a.ID, b.ID) })
	for _, k := range known {
		if k.Status != ServerAlive || k.Address == "" {
			continue
		}
		cur, in := byID[k.ID]
		if in && cur.Address == k.Address {
			continue
		}
		if other, taken := byAddr[k.Address]; taken && other.ID != k.ID {
			m.log.Debug("voters: raft address still held by another server", "node_id", k.ID, "addr", k.Address, "held_by", other.ID)
			continue
		}
		if in {
			m.log.Info("voters: updating raft address", "node_id", k.ID, "from", cur.Address, "to", k.Address, "voter", cur.Voter)
		} else {
			m.log.Info("voters: adding non-voter", "node_id", k.ID, "addr", k.Address)
		}
		if err := m.addServer(k.ID, k.Address, in && cur.Voter); err != nil {
			m.log.Warn("voters: add server", "node_id", k.ID, "error", err)
			return
		}
	}
}

// addServer adds id as a non-voter, or updates the address of a server
// already there keeping its suffrage (raft's AddVoter on a voter and
// AddNonvoter on a non-voter only move it).
func (m *voterManager) addServer(id, addr string, voter bool) error {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	if voter {
		return m.r.AddVoter(id, addr)
	}
	return m.r.AddNonvoter(id, addr)
}
