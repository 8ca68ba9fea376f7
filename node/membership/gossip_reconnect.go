package membership

import (
	"context"
	"math/rand/v2"
	"time"
)

// Reconnecting to dead members, serf's way. memberlist alone never merges
// two sides that have declared each other dead: it pushes and pulls state
// only with members it believes alive, gossips to the dead for 30 s and only
// while it has broadcasts queued, and probes only the living. After a cut
// longer than failure detection (a few seconds) both sides would stay split
// for good, each calling the other dead: a re-plugged node's Node stays
// NotReady and the raft leader keeps treating it as gone. So, like serf's
// reconnect loop, a member that gossip calls Dead (not Left) is contacted
// again now and then; a successful join exchanges full state, each side
// learns that it was declared dead and refutes it, and both merge.
const (
	// reconnectInterval is how often one dead member is tried.
	reconnectInterval = 3 * time.Second
	// reconnectFor is how long after its death a member is still tried.
	reconnectFor = 24 * time.Hour
)

// RunReconnect tries, every few seconds, to join one member that gossip
// calls Dead (picked at random among those dead for less than a day), until
// ctx ends; it then returns nil. An attempt that fails costs one TCP dial.
func (m *Membership) RunReconnect(ctx context.Context) error {
	return m.runReconnect(ctx, reconnectInterval)
}

func (m *Membership) runReconnect(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		m.reconnectOnce()
	}
}

// reconnectOnce joins one dead member, if there is one.
func (m *Membership) reconnectOnce() {
	list, err := m.started()
	if err != nil {
		return
	}
	name, addr := m.pickDead()
	if addr == "" {
		return
	}
	// memberlist bounds the attempt with its TCP timeout (10 s on a LAN).
	if n, err := list.Join([]string{addr}); n > 0 {
		m.logger.Info("reconnected to a member gossip called dead", "node_id", name, "addr", addr)
	} else {
		m.logger.Debug("reconnect to dead member failed", "node_id", name, "addr", addr, "error", err)
	}
}

// pickDead names one member, other than this node, that is Dead (not Left)
// and died less than reconnectFor ago, at random; "" when there is none.
func (m *Membership) pickDead() (name, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var dead []*Member
	for _, mem := range m.members {
		if mem.Name != m.cfg.Name && mem.State == Dead && mem.Addr != "" && now.Sub(mem.Since) < reconnectFor {
			dead = append(dead, mem)
		}
	}
	if len(dead) == 0 {
		return "", ""
	}
	d := dead[rand.IntN(len(dead))]
	return d.Name, d.Addr
}
