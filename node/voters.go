package node

import (
	"context"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/membership"
)

// runVoters is the leader loop that manages raft voters (consensus'
// RunVoters), fed by gossip.
func (n *Node) runVoters(ctx context.Context) error {
	return n.raft.RunVoters(ctx, consensus.VotersConfig{
		Voters:        n.cfg.Voters,
		Grace:         n.cfg.VoterGrace,
		Stabilization: n.cfg.VoterStabilization,
		Logger:        n.log.With("component", "voters"),
	}, gossipServers{n.gossip})
}

// runFeatureGate is the leader loop that decides the version-gated raft
// features (consensus' RunFeatureGate) from the versions gossip carries.
func (n *Node) runFeatureGate(ctx context.Context) error {
	return n.raft.RunFeatureGate(ctx, gossipServers{n.gossip}, n.log.With("component", "features"))
}

// gossipServers adapts gossip's members to consensus.ServerSource: every
// member that may vote and advertises a raft address.
type gossipServers struct{ m *membership.Membership }

func (g gossipServers) KnownServers() []consensus.KnownServer {
	var out []consensus.KnownServer
	for _, m := range g.m.Members() {
		if m.Meta.RaftAddr == "" || !m.HasRole(membership.RoleVoterEligible) {
			continue
		}
		st := consensus.ServerAlive
		switch m.State {
		case membership.Dead:
			st = consensus.ServerDead
		case membership.Left:
			st = consensus.ServerLeft
		}
		out = append(out, consensus.KnownServer{ID: m.Name, Address: m.Meta.RaftAddr, Status: st, Version: m.Meta.Version})
	}
	return out
}

func (g gossipServers) Subscribe() (<-chan struct{}, func()) { return g.m.Subscribe() }
