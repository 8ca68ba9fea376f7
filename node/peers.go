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
// dir, and on start (a restart without --join) joins them again, retrying
// until one answers.
func (n *Node) rejoin(ctx context.Context) error {
	path := filepath.Join(n.cfg.DataDir, peersFile)
	var saved []string
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &saved)
	}
	joined := len(n.cfg.Join) > 0 || len(saved) == 0
	changes, cancel := n.gossip.Subscribe()
	defer cancel()
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		if !joined {
			if err := n.gossip.Join(ctx, saved); err == nil {
				joined = true
				n.log.Info("rejoined gossip", "peers", saved)
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
