package membership

import (
	"context"
	"math/rand/v2"
	"time"
)

// Reconnect defaults, serf's model: memberlist gossips to a dead member only
// for GossipToTheDeadTime (30 s on a LAN), so after a longer partition both
// sides hold each other dead for good and only a join brings them together.
// Serf retries one random failed member every 30 s for 24 h; shoal's clusters
// are small and a lost minute of membership delays voter repair and Node
// readiness, so it retries every few seconds.
const (
	DefaultReconnectInterval = 3 * time.Second
	DefaultReconnectTimeout  = 24 * time.Hour
)

// RunReconnect retries, every interval until ctx ends, a join to one random
// member that gossip declared Dead (never one that Left) less than timeout
// ago. A successful join merges the two sides' state; the member that was
// declared dead refutes it and is Alive again everywhere. It returns nil
// when ctx ends.
func (m *Membership) RunReconnect(ctx context.Context, interval, timeout time.Duration) error {
	if interval <= 0 {
		interval = DefaultReconnectInterval
	}
	if timeout <= 0 {
		timeout = DefaultReconnectTimeout
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		target, ok := m.reconnectTarget(timeout)
		if !ok {
			continue
		}
		jctx, cancel := context.WithTimeout(ctx, interval)
		err := m.Join(jctx, []string{target.Addr})
		cancel()
		if err != nil {
			m.logger.Debug("reconnect to failed member", "node_id", target.Name, "addr", target.Addr, "error", err)
			continue
		}
		m.logger.Info("reconnected to failed member", "node_id", target.Name, "addr", target.Addr)
	}
}

// reconnectTarget picks one random member that is Dead, was seen less than
// timeout ago, and has an address.
func (m *Membership) reconnectTarget(timeout time.Duration) (Member, bool) {
	now := m.now()
	var dead []Member
	for _, mem := range m.Members() {
		if mem.Name == m.cfg.Name || mem.State != Dead || mem.Addr == "" || now.Sub(mem.Since) > timeout {
			continue
		}
		dead = append(dead, mem)
	}
	if len(dead) == 0 {
		return Member{}, false
	}
	return dead[rand.IntN(len(dead))], true
}
