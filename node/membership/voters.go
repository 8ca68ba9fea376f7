package membership

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// resyncInterval is how often Run reconciles without an event, so a missed
// event or a grace period running out is acted on.
const resyncInterval = time.Second

// Server is one entry of the raft configuration, as the reconciler sees it.
// The node adapts the consensus package's type to this one, so this package
// never imports raft.
type Server struct {
	// ID is the raft server ID: the node name.
	ID string
	// Address is the raft transport address.
	Address string
	// Voter is true for voters, false for non-voters.
	Voter bool
}

// RaftConfigurator is the reconciler's view of raft membership. Calls may
// block until the configuration change commits; they fail (typically with
// the consensus package's not-leader error) when this node is not the
// leader. Only one reconciler pass calls it at a time.
type RaftConfigurator interface {
	// Servers returns the latest raft configuration.
	Servers() ([]Server, error)
	// AddVoter adds a voter, promotes a non-voter, or updates a voter's
	// address.
	AddVoter(id, addr string) error
	// AddNonvoter adds a non-voter or updates a non-voter's address. It
	// never demotes a voter.
	AddNonvoter(id, addr string) error
	// RemoveServer removes a server, voter or not.
	RemoveServer(id string) error
}

// MemberSource is where the reconciler learns about members; *Membership is
// one. Subscribe follows Membership.Subscribe's contract.
type MemberSource interface {
	Members() []Member
	Subscribe() (<-chan struct{}, func())
}

var _ MemberSource = (*Membership)(nil)

// VoterReconciler keeps the raft configuration in step with gossip (the
// leader runs it; consul's autopilot is the model):
//
//   - an Alive member not in raft is added, as a voter while there are fewer
//     voters than the target, else as a non-voter (at Meta.RaftAddr);
//   - a member that left gracefully is removed;
//   - a server whose member has been Dead, or absent, for longer than the
//     grace period is removed, and while voters are below the target a
//     healthy (Alive) non-voter is promoted;
//   - this node is never removed, and at most one voter is removed per pass,
//     so one pass never takes away a quorum of the current voters.
//
// It is level-triggered: each pass compares the whole of both sides, so a
// missed event is healed by the next pass.
type VoterReconciler struct {
	self    string
	members MemberSource
	raft    RaftConfigurator
	voters  int
	grace   time.Duration
	logger  *slog.Logger
	clock   func() time.Time

	mu sync.Mutex // one pass at a time; guards missingSince
	// missingSince is when a raft server was first seen without a member.
	missingSince map[string]time.Time
}

// NewVoterReconciler builds a reconciler for the node named self, keeping
// voters raft voters (at least 1) and replacing dead ones after grace. A nil
// logger discards; a nil clock is time.Now. It does no I/O.
func NewVoterReconciler(self string, members MemberSource, raft RaftConfigurator, voters int, grace time.Duration, logger *slog.Logger, clock func() time.Time) *VoterReconciler {
	if voters < 1 {
		voters = 1
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if clock == nil {
		clock = time.Now
	}
	return &VoterReconciler{
		self: self, members: members, raft: raft, voters: voters, grace: grace,
		logger: logger, clock: clock, missingSince: make(map[string]time.Time),
	}
}

// Run reconciles once, then on every membership change and every second,
// until ctx ends; it then returns nil. Errors of a pass (for example "not
// leader" while leadership moves) are logged and retried by the next pass.
func (v *VoterReconciler) Run(ctx context.Context) error {
	// Subscribe before the first pass so no change falls in between.
	events, cancel := v.members.Subscribe()
	defer cancel()
	ticker := time.NewTicker(resyncInterval)
	defer ticker.Stop()
	var lastErr string
	for {
		if err := v.Reconcile(); err != nil {
			if msg := err.Error(); msg != lastErr {
				v.logger.Warn("voter reconcile failed", "error", err)
				lastErr = msg
			} else {
				v.logger.Debug("voter reconcile failed", "error", err)
			}
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
		case <-ticker.C:
		}
	}
}

// Reconcile makes one pass: removals first, then promotions, then additions
// (an existing non-voter already has the log, so it is preferred as a new
// voter over a node not yet in raft). It attempts every change it decides
// on and returns the joined errors.
func (v *VoterReconciler) Reconcile() error {
	v.mu.Lock()
	defer v.mu.Unlock()

	servers, err := v.raft.Servers()
	if err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	now := v.clock()
	members := make(map[string]Member)
	for _, m := range v.members.Members() {
		members[m.Name] = m
	}
	slices.SortFunc(servers, func(a, b Server) int { return cmp.Compare(a.ID, b.ID) })

	var errs []error
	voters := 0
	inRaft := make(map[string]Server, len(servers))
	for _, s := range servers {
		inRaft[s.ID] = s
		if s.Voter {
			voters++
		}
	}
	v.trackMissing(servers, members, now)

	// 1. Removals.
	removedVoter := false
	for _, s := range servers {
		if s.ID == v.self {
			continue
		}
		why := v.removalReason(s, members, now)
		if why == "" {
			continue
		}
		if s.Voter && removedVoter {
			v.logger.Debug("deferring voter removal to the next pass", "node_id", s.ID, "reason", why)
			continue
		}
		v.logger.Info("removing raft server", "node_id", s.ID, "voter", s.Voter, "reason", why)
		if err := v.raft.RemoveServer(s.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.ID, err))
			continue
		}
		delete(inRaft, s.ID)
		delete(v.missingSince, s.ID)
		if s.Voter {
			voters--
			removedVoter = true
		}
	}

	// 2. Promotions of healthy non-voters while below the target.
	for _, s := range servers {
		if voters >= v.voters {
			break
		}
		cur, ok := inRaft[s.ID]
		if !ok || cur.Voter || !isAlive(members, s.ID) {
			continue
		}
		addr := raftAddr(members[s.ID], cur.Address)
		v.logger.Info("promoting non-voter", "node_id", s.ID, "addr", addr)
		if err := v.raft.AddVoter(s.ID, addr); err != nil {
			errs = append(errs, fmt.Errorf("promote %s: %w", s.ID, err))
			continue
		}
		cur.Voter, cur.Address = true, addr
		inRaft[s.ID] = cur
		voters++
	}

	// 3. Additions of alive members, and address updates of moved ones.
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m := members[name]
		if name == v.self || m.State != Alive {
			continue
		}
		if m.Meta.RaftAddr == "" {
			v.logger.Debug("member has no raft address yet", "node_id", name)
			continue
		}
		cur, ok := inRaft[name]
		switch {
		case ok && cur.Address == m.Meta.RaftAddr:
			continue
		case ok: // the node came back at a new address: keep its suffrage
			v.logger.Info("updating raft address", "node_id", name, "from", cur.Address, "to", m.Meta.RaftAddr)
			err = v.add(name, m.Meta.RaftAddr, cur.Voter)
		case voters < v.voters:
			v.logger.Info("adding voter", "node_id", name, "addr", m.Meta.RaftAddr)
			err = v.add(name, m.Meta.RaftAddr, true)
			if err == nil {
				voters++
			}
		default:
			v.logger.Info("adding non-voter", "node_id", name, "addr", m.Meta.RaftAddr)
			err = v.add(name, m.Meta.RaftAddr, false)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("add %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// add calls AddVoter or AddNonvoter.
func (v *VoterReconciler) add(id, addr string, voter bool) error {
	if voter {
		return v.raft.AddVoter(id, addr)
	}
	return v.raft.AddNonvoter(id, addr)
}

// trackMissing remembers when each raft server was first seen without a
// member, and forgets servers that have one again or left raft.
func (v *VoterReconciler) trackMissing(servers []Server, members map[string]Member, now time.Time) {
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		seen[s.ID] = true
		if _, ok := members[s.ID]; ok {
			delete(v.missingSince, s.ID)
		} else if _, ok := v.missingSince[s.ID]; !ok {
			v.missingSince[s.ID] = now
		}
	}
	for id := range v.missingSince {
		if !seen[id] {
			delete(v.missingSince, id)
		}
	}
}

// removalReason says why server s should leave raft, or "" if it should stay.
func (v *VoterReconciler) removalReason(s Server, members map[string]Member, now time.Time) string {
	m, ok := members[s.ID]
	switch {
	case !ok:
		if since := v.missingSince[s.ID]; now.Sub(since) > v.grace {
			return fmt.Sprintf("no gossip member for %s", now.Sub(since).Round(time.Millisecond))
		}
	case m.State == Left:
		return "left the cluster"
	case m.State == Dead:
		if now.Sub(m.Since) > v.grace {
			return fmt.Sprintf("dead for %s", now.Sub(m.Since).Round(time.Millisecond))
		}
	}
	return ""
}

// isAlive reports whether the member named id is Alive.
func isAlive(members map[string]Member, id string) bool {
	m, ok := members[id]
	return ok && m.State == Alive
}

// raftAddr is the member's advertised raft address, else fallback.
func raftAddr(m Member, fallback string) string {
	if m.Meta.RaftAddr != "" {
		return m.Meta.RaftAddr
	}
	return fallback
}
