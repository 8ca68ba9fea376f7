package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// The three faces raft-autopilot needs: its Raft (apRaft), its
// ApplicationIntegration (apDelegate: gossip's view and the stats RPC) and
// its Promoter (apPromoter: shoal's rules). The library's loop refreshes
// the state every Interval and then, every Interval, asks the promoter for
// promotions and demotions and for which failed servers to remove.

// apRaft is autopilot's view of raft. Changes are made one at a time
// (changeMu), wait for their commit, and are no-ops when the configuration
// already says what they ask: the library may ask twice in one round from
// a state that predates its first change.
type apRaft struct{ m *voterManager }

var _ autopilot.Raft = apRaft{}

// doneFuture is a finished raft.IndexFuture.
type doneFuture struct {
	err   error
	index uint64
}

func (f doneFuture) Error() error  { return f.err }
func (f doneFuture) Index() uint64 { return f.index }

// change runs one configuration change, unless current (the server's
// entry, found says whether there is one) shows it is not needed.
func (a apRaft) change(id raft.ServerID, needed func(s raft.Server, found bool) bool, do func() raft.IndexFuture) raft.IndexFuture {
	a.m.changeMu.Lock()
	defer a.m.changeMu.Unlock()
	f := a.m.r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return doneFuture{err: err}
	}
	var cur raft.Server
	found := false
	for _, s := range f.Configuration().Servers {
		if s.ID == id {
			cur, found = s, true
		}
	}
	if !needed(cur, found) {
		return doneFuture{index: f.Index()}
	}
	if id == raft.ServerID(a.m.r.cfg.NodeID) {
		return doneFuture{err: errors.New("voters: the leader does not change its own suffrage")}
	}
	res := do()
	err := res.Error()
	if err == nil {
		a.m.mu.Lock()
		a.m.configIndex, a.m.configSeen = res.Index(), a.m.now()
		a.m.mu.Unlock()
	}
	return doneFuture{err: err, index: res.Index()}
}

func (a apRaft) AddVoter(id raft.ServerID, addr raft.ServerAddress, prev uint64, timeout time.Duration) raft.IndexFuture {
	return a.change(id, func(s raft.Server, found bool) bool { return !found || s.Suffrage != raft.Voter || s.Address != addr },
		func() raft.IndexFuture {
			return a.m.r.raft.AddVoter(id, addr, prev, orDuration(timeout, membershipTimeout))
		})
}

func (a apRaft) AddNonvoter(id raft.ServerID, addr raft.ServerAddress, prev uint64, timeout time.Duration) raft.IndexFuture {
	return a.change(id, func(s raft.Server, found bool) bool { return !found || s.Address != addr },
		func() raft.IndexFuture {
			return a.m.r.raft.AddNonvoter(id, addr, prev, orDuration(timeout, membershipTimeout))
		})
}

func (a apRaft) DemoteVoter(id raft.ServerID, prev uint64, timeout time.Duration) raft.IndexFuture {
	return a.change(id, func(s raft.Server, found bool) bool { return found && s.Suffrage == raft.Voter },
		func() raft.IndexFuture {
			return a.m.r.raft.DemoteVoter(id, prev, orDuration(timeout, membershipTimeout))
		})
}

func (a apRaft) RemoveServer(id raft.ServerID, prev uint64, timeout time.Duration) raft.IndexFuture {
	return a.change(id, func(_ raft.Server, found bool) bool { return found },
		func() raft.IndexFuture {
			return a.m.r.raft.RemoveServer(id, prev, orDuration(timeout, membershipTimeout))
		})
}

func (a apRaft) LastIndex() uint64                          { return a.m.r.raft.LastIndex() }
func (a apRaft) Leader() raft.ServerAddress                 { return a.m.r.raft.Leader() }
func (a apRaft) GetConfiguration() raft.ConfigurationFuture { return a.m.r.raft.GetConfiguration() }
func (a apRaft) Stats() map[string]string                   { return a.m.r.raft.Stats() }
func (a apRaft) State() raft.RaftState                      { return a.m.r.raft.State() }

// LeadershipTransferToServer is never asked for: the promoter names no
// leader.
func (a apRaft) LeadershipTransferToServer(id raft.ServerID, addr raft.ServerAddress) raft.Future {
	return doneFuture{err: fmt.Errorf("voters: leadership transfer to %s not supported", id)}
}

// apDelegate is autopilot's ApplicationIntegration: gossip's view of the
// servers and the stats RPC.
type apDelegate struct{ m *voterManager }

var _ autopilot.ApplicationIntegration = apDelegate{}

func (d apDelegate) AutopilotConfig() *autopilot.Config {
	return &autopilot.Config{
		CleanupDeadServers:      true,
		LastContactThreshold:    lastContactThreshold,
		MaxTrailingLogs:         maxTrailingLogs,
		ServerStabilizationTime: d.m.cfg.Stabilization,
	}
}

// KnownServers is every node gossip knows, plus every raft server gossip
// does not know (as failed): autopilot treats a raft server missing here as
// stale and bypasses the health rules for it.
func (d apDelegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	m := d.m
	known := map[string]KnownServer{}
	for _, k := range m.src.KnownServers() {
		known[k.ID] = k
	}
	out := make(map[raft.ServerID]*autopilot.Server, len(known))
	add := func(id, addr string, st autopilot.NodeStatus) {
		out[raft.ServerID(id)] = &autopilot.Server{
			ID: raft.ServerID(id), Name: id, Address: raft.ServerAddress(addr), NodeStatus: st,
			NodeType: autopilot.NodeVoter, RaftVersion: raft.ProtocolVersionMax, IsLeader: id == m.r.cfg.NodeID,
		}
	}
	for _, k := range known {
		st := autopilot.NodeAlive
		switch k.Status {
		case ServerDead:
			st = autopilot.NodeFailed
		case ServerLeft:
			st = autopilot.NodeLeft
		}
		add(k.ID, k.Address, st)
	}
	if f := m.r.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if _, ok := out[s.ID]; !ok {
				add(string(s.ID), string(s.Address), autopilot.NodeFailed)
			}
		}
	}
	m.mu.Lock()
	m.known = known
	m.mu.Unlock()
	return out
}

// FetchServerStats asks every server of the raft configuration for its
// stats, in parallel, within ctx (half the update interval). A server that
// does not answer gets LastContact -1, which autopilot counts as unhealthy;
// the manager remembers since when it has not answered.
func (d apDelegate) FetchServerStats(ctx context.Context, _ map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	m := d.m
	f := m.r.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	out := map[raft.ServerID]*autopilot.ServerStats{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == m.r.cfg.NodeID {
			out[s.ID] = toAutopilotStats(m.r.localServerStats())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := m.r.fwd.fetchServerStats(ctx, string(s.ID), string(s.Address))
			m.observeReach(string(s.ID), err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out[s.ID] = &autopilot.ServerStats{LastContact: -1}
				return
			}
			out[s.ID] = toAutopilotStats(st)
		}()
	}
	wg.Wait()
	return out
}

func toAutopilotStats(s serverStats) *autopilot.ServerStats {
	return &autopilot.ServerStats{LastContact: time.Duration(s.LastContactNanos), LastTerm: s.LastTerm, LastIndex: s.LastIndex}
}

// NotifyState logs each server's change of health, one line each.
func (d apDelegate) NotifyState(s *autopilot.State) {
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, srv := range s.Servers {
		was, seen := m.healthy[string(id)]
		if seen && was == srv.Health.Healthy {
			continue
		}
		m.healthy[string(id)] = srv.Health.Healthy
		if !seen && srv.Health.Healthy {
			continue
		}
		m.log.Info("voters: server health changed", "node_id", string(id), "healthy", srv.Health.Healthy,
			"role", string(srv.State), "last_contact", srv.Stats.LastContact, "last_term", srv.Stats.LastTerm, "last_index", srv.Stats.LastIndex)
	}
}

// RemoveFailedServer removes a server the promoter chose for removal.
func (d apDelegate) RemoveFailedServer(s *autopilot.Server) {
	if err := (apRaft{d.m}).RemoveServer(s.ID, 0, 0).Error(); err != nil {
		d.m.log.Warn("voters: remove server", "node_id", string(s.ID), "error", err)
	}
}

// apPromoter is autopilot's Promoter: every node may vote, and decide
// says which one change to make.
type apPromoter struct{ m *voterManager }

var _ autopilot.Promoter = apPromoter{}

func (apPromoter) GetServerExt(*autopilot.Config, *autopilot.ServerState) any { return nil }
func (apPromoter) GetStateExt(*autopilot.Config, *autopilot.State) any        { return nil }

func (apPromoter) GetNodeTypes(_ *autopilot.Config, s *autopilot.State) map[raft.ServerID]autopilot.NodeType {
	types := make(map[raft.ServerID]autopilot.NodeType, len(s.Servers))
	for id := range s.Servers {
		types[id] = autopilot.NodeVoter
	}
	return types
}

func (apPromoter) IsPotentialVoter(t autopilot.NodeType) bool { return t == autopilot.NodeVoter }

// CalculatePromotionsAndDemotions returns decide's promotion or demotion,
// if that is its decision.
func (p apPromoter) CalculatePromotionsAndDemotions(_ *autopilot.Config, s *autopilot.State) autopilot.RaftChanges {
	var ch autopilot.RaftChanges
	a := p.m.decision(s)
	switch a.Kind {
	case actPromote:
		// A pair goes out back to back: the library applies promotions in
		// order, each after the previous one committed.
		ch.Promotions = []raft.ServerID{raft.ServerID(a.ID)}
		if a.Next != "" {
			ch.Promotions = append(ch.Promotions, raft.ServerID(a.Next))
		}
	case actDemote:
		ch.Demotions = []raft.ServerID{raft.ServerID(a.ID)}
	default:
		return ch
	}
	if a.Next != "" {
		p.m.log.Info("voters: "+a.Kind.String(), "node_id", a.ID, "then", a.Next, "reason", a.Why)
	} else {
		p.m.log.Info("voters: "+a.Kind.String(), "node_id", a.ID, "reason", a.Why)
	}
	return ch
}

// FilterFailedServerRemovals keeps only decide's removal, if that is its
// decision: a failed voter is demoted first (by the rules), never removed
// outright.
func (p apPromoter) FilterFailedServerRemovals(_ *autopilot.Config, s *autopilot.State, failed *autopilot.FailedServers) *autopilot.FailedServers {
	out := &autopilot.FailedServers{}
	a := p.m.decision(s)
	if a.Kind != actRemove {
		return out
	}
	for _, srv := range failed.FailedNonVoters {
		if string(srv.ID) == a.ID {
			out.FailedNonVoters = []*autopilot.Server{srv}
		}
	}
	for _, id := range failed.StaleNonVoters {
		if string(id) == a.ID {
			out.StaleNonVoters = []raft.ServerID{id}
		}
	}
	if len(out.FailedNonVoters)+len(out.StaleNonVoters) > 0 {
		p.m.log.Info("voters: remove", "node_id", a.ID, "reason", a.Why)
	}
	return out
}

// observeReach records a stats RPC's outcome.
func (m *voterManager) observeReach(id string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.unreachableSince, id)
		return
	}
	if _, ok := m.unreachableSince[id]; !ok {
		m.unreachableSince[id] = m.now()
		m.log.Debug("voters: server not answering", "node_id", id, "error", err)
	}
}

// decision gathers decide's input from autopilot's state and the live
// configuration, and logs a change of mind about doing nothing.
func (m *voterManager) decision(s *autopilot.State) action {
	in := policyInput{
		Target: m.cfg.Voters, Grace: m.cfg.Grace, Stabilization: m.cfg.Stabilization, Reap: m.cfg.Reap,
		Unsettled: m.unsettled(),
	}
	f := m.r.raft.GetConfiguration()
	if f.Error() != nil {
		return action{Why: "raft configuration unreadable"}
	}
	conf := f.Configuration()
	if in.Unsettled == "" && !stateMatches(s, conf) {
		in.Unsettled = "health view older than the configuration"
	}
	now := m.now()
	m.mu.Lock()
	aliveAt := map[string]string{} // raft address -> alive node advertising it
	for _, k := range m.known {
		if k.Status == ServerAlive {
			aliveAt[k.Address] = k.ID
		}
	}
	for _, srv := range conf.Servers {
		id := string(srv.ID)
		ss, ok := s.Servers[srv.ID]
		if !ok {
			continue
		}
		v := serverView{
			ID: id, Voter: srv.Suffrage == raft.Voter, Leader: ss.State == autopilot.RaftLeader,
			Healthy: ss.Health.Healthy,
		}
		if v.Healthy {
			v.HealthyFor = now.Sub(ss.Health.StableSince)
		}
		k, inGossip := m.known[id]
		if !inGossip || k.Status != ServerAlive {
			if since, ok := m.unreachableSince[id]; ok {
				v.DownFor = now.Sub(since)
			}
		}
		v.Left = inGossip && k.Status == ServerLeft
		if other, ok := aliveAt[string(srv.Address)]; ok && other != id && (!inGossip || k.Status != ServerAlive) {
			v.Superseded = true
		}
		in.Servers = append(in.Servers, v)
	}
	a := decide(in)
	// Log why nothing is done when that changes (an unsettled moment
	// passes by itself and is not worth a line).
	switch {
	case a.Kind != actNone:
		m.lastWhy = ""
	case in.Unsettled == "" && a.Why != m.lastWhy:
		m.lastWhy = a.Why
		if a.Why != "nothing to do" {
			m.log.Info("voters: no change", "reason", a.Why)
		}
	}
	m.mu.Unlock()
	return a
}

// stateMatches says whether autopilot's state was built from conf: the same
// servers with the same suffrage.
func stateMatches(s *autopilot.State, conf raft.Configuration) bool {
	if s == nil || len(s.Servers) != len(conf.Servers) {
		return false
	}
	for _, srv := range conf.Servers {
		ss, ok := s.Servers[srv.ID]
		if !ok || (srv.Suffrage == raft.Voter) != ss.HasVotingRights() {
			return false
		}
	}
	return true
}
