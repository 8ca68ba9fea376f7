package consensus

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// membershipTimeout bounds a configuration change's enqueue.
const membershipTimeout = 10 * time.Second

// Server is one member of the raft configuration.
type Server struct {
	ID, Address string
	Voter       bool
}

// Servers returns the latest raft configuration.
func (r *Raft) Servers() ([]Server, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("consensus: raft configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// A server's raft role, as Roles names it; the Node objects show it in a
// label.
const (
	RoleLeader   = "leader"
	RoleVoter    = "voter"
	RoleNonvoter = "non-voter"
)

// Roles names each server of the latest raft configuration by its role:
// RoleLeader, RoleVoter or RoleNonvoter. It is nil when the configuration
// cannot be read: callers then show no role rather than a guessed one.
func (r *Raft) Roles() map[string]string {
	servers, err := r.Servers()
	if err != nil {
		return nil
	}
	leader, _ := r.Leader()
	out := make(map[string]string, len(servers))
	for _, s := range servers {
		switch {
		case s.ID == leader:
			out[s.ID] = RoleLeader
		case s.Voter:
			out[s.ID] = RoleVoter
		default:
			out[s.ID] = RoleNonvoter
		}
	}
	return out
}

// AddVoter adds (or promotes) a voter; leader only (ErrNotLeader otherwise).
func (r *Raft) AddVoter(id, addr string) error {
	return membershipErr("add voter "+id, r.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error())
}

// AddNonvoter adds a non-voter, which replicates the log without voting;
// leader only. It does not demote an existing voter.
func (r *Raft) AddNonvoter(id, addr string) error {
	return membershipErr("add nonvoter "+id, r.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error())
}

// RemoveServer removes a server from the configuration; leader only.
func (r *Raft) RemoveServer(id string) error {
	return membershipErr("remove server "+id, r.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error())
}

func membershipErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("consensus: %s: %w", what, ErrNotLeader)
	}
	return fmt.Errorf("consensus: %s: %w", what, err)
}
