package node_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testcluster"
	"github.com/shoal-project/shoal/node/membership"
)

// TestRestartWithJoinContactsJoinAddress: a node restarted with its old
// `--join HOST`, at a new gossip port (so the others cannot reconnect to
// it) and no saved peers (all gone, or the file lost), contacts HOST again
// and is back in the cluster; it used to start alone.
func TestRestartWithJoinContactsJoinAddress(t *testing.T) {
	c := testcluster.New(t, 2)
	c.StopGracefully(1)
	if err := os.Remove(filepath.Join(c.Members[1].Config.DataDir, "peers.json")); err != nil {
		t.Fatalf("remove saved peers: %v", err)
	}
	first := c.Members[0]
	c.Eventually(15*time.Second, "node 0 sees node 1 dead", func() error {
		return memberState(first.Node.Membership(), c.Members[1].Name, membership.Dead)
	})
	// memberlist lets a dead name come back at another address only after
	// its reclaim time (5 s); sooner, the next push/pull (30 s) heals it.
	time.Sleep(6 * time.Second)
	c.Members[1].Config.GossipPort = testcluster.FreePorts(t, 1)[0]
	c.RestartJoining(1, []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(first.Config.GossipPort))})
	c.Eventually(20*time.Second, "node 0 sees node 1 alive again", func() error {
		return memberState(first.Node.Membership(), c.Members[1].Name, membership.Alive)
	})
}

func memberState(m *membership.Membership, name string, want membership.State) error {
	for _, mem := range m.Members() {
		if mem.Name == name {
			if mem.State != want {
				return fmt.Errorf("member %s is %s, want %s", name, mem.State, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no member %s", name)
}
