package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoal-project/shoal/node/membership"
)

const peersFile = "peers.json"

// rejoin keeps a list of the gossip addresses of known peers in the data
// dir, and on a restart joins them again, and the --join addresses too,
// retrying until one answers. justJoined is true when this start already
// joined through --join (a first join).
func (n *Node) rejoin(ctx context.Context, justJoined bool) error {
	path := filepath.Join(n.cfg.DataDir, peersFile)
	var saved []string
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &saved)
	}
	// A restarted node whose unit still says `shoal join HOST` must contact
	// HOST too: its saved peers may all be gone by now.
	targets := slices.Clone(saved)
	for _, a := range n.cfg.Join {
		if !slices.Contains(targets, a) {
			targets = append(targets, a)
		}
	}
	joined := justJoined || len(targets) == 0
	changes, cancel := n.gossip.Subscribe()
	defer cancel()
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		if !joined {
			if err := n.gossip.Join(ctx, targets); err == nil {
				joined = true
				n.log.Info("rejoined gossip", "peers", targets)
			} else {
				n.log.Debug("rejoin gossip", "error", err)
			}
		}
		var addrs []string
		for _, m := range n.gossip.Members() {
			if m.Name != n.cfg.Name && m.State == membership.Alive {
				addrs = append(addrs, m.Addr)
			}
		}
		slices.Sort(addrs)
		if len(addrs) > 0 && !slices.Equal(addrs, saved) {
			if b, err := json.Marshal(addrs); err == nil && os.WriteFile(path+".tmp", b, 0o600) == nil {
				os.Rename(path+".tmp", path)
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
