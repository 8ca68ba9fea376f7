package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/testcluster"
	"github.com/shoal-project/shoal/node/membership"
)

// voterIndexes are the members that vote, the leader first when it votes.
func voterIndexes(c *testcluster.Cluster, voters []string) []int {
	var out []int
	for i, m := range c.Members {
		if slices.Contains(voters, m.Name) {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int {
		if a == c.LeaderIndex() {
			return -1
		}
		if b == c.LeaderIndex() {
			return 1
		}
		return 0
	})
	return out
}

// mustWrite creates a ConfigMap through member i, retrying while a leader
// is elected, and fails the test if no write succeeds within 20 s.
func mustWrite(t *testing.T, c *testcluster.Cluster, i int, name string) {
	t.Helper()
	c.Eventually(20*time.Second, "a write through "+c.Members[i].Name, func() error {
		_, err := c.Client(i).CoreV1().ConfigMaps("default").Create(context.Background(), configMap(name, nil), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// gossipState is what member i's gossip says about the member named name.
func gossipState(c *testcluster.Cluster, i int, name string) membership.State {
	for _, m := range c.Members[i].Node.Membership().Members() {
		if m.Name == name {
			return m.State
		}
	}
	return 0
}

// TestVoterRestartedWithinGraceStaysVoter: a voter killed, seen dead by
// gossip, and started again before the grace period ends keeps its seat
// though a healthy non-voter could have taken it; the voter set is the same
// long after the grace period, and the cluster writes.
func TestVoterRestartedWithinGraceStaysVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("4-node cluster and a grace period: ~25s")
	}
	const grace = 8 * time.Second
	c := testcluster.New(t, 4, testcluster.WithVoterGrace(grace))
	before, err := c.Voters()
	if err != nil {
		t.Fatal(err)
	}
	victim := voterIndexes(c, before)[1] // a voter that does not lead
	name := c.Members[victim].Name
	killed := time.Now()
	c.Kill(victim)
	leader := c.LeaderIndex()
	c.Eventually(15*time.Second, "the leader's gossip to call "+name+" dead", func() error {
		if st := gossipState(c, leader, name); st != membership.Dead {
			return fmt.Errorf("%s is %s", name, st)
		}
		return nil
	})
	if time.Since(killed) > grace-2*time.Second {
		t.Fatalf("gossip took %s to declare %s dead: too close to the %s grace for this test", time.Since(killed), name, grace)
	}
	c.Restart(victim)
	restarted := time.Since(killed)
	time.Sleep(time.Until(killed.Add(grace + 4*time.Second)))
	after, err := c.Voters()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after, before) {
		t.Fatalf("voters %v after %s restarted %s after its kill (grace %s), expected unchanged %v",
			after, name, restarted.Round(time.Millisecond), grace, before)
	}
	mustWrite(t, c, victim, "after-restart")
}

// TestTwoVotersKilledOneAfterTheOther: 5 nodes, 3 voters. A voter is
// killed, then, once the voters are back to 3, the leader is killed: each
// time a non-voter takes the seat, the cluster writes, and the count
// returns to 3 voters, all alive.
func TestTwoVotersKilledOneAfterTheOther(t *testing.T) {
	if testing.Short() {
		t.Skip("5-node failover skipped in -short")
	}
	c := testcluster.New(t, 5, testcluster.WithVoters(3), testcluster.WithVoterGrace(2*time.Second))
	mustWrite(t, c, 0, "before")
	dead := map[string]bool{}
	waitVoters := func(what string) []string {
		t.Helper()
		var voters []string
		c.Eventually(60*time.Second, what, func() (err error) {
			voters, err = c.Voters()
			if err != nil {
				return err
			}
			if len(voters) != 3 {
				return fmt.Errorf("voters %v (dead: %v)", voters, dead)
			}
			for _, v := range voters {
				if dead[v] {
					return fmt.Errorf("voters %v include a dead node (dead: %v)", voters, dead)
				}
			}
			return nil
		})
		return voters
	}
	for round, pick := range []string{"a follower voter", "the leader"} {
		voters, err := c.Voters()
		if err != nil {
			t.Fatal(err)
		}
		idx := voterIndexes(c, voters)
		victim := idx[1]
		if pick == "the leader" {
			victim = idx[0]
			if victim != c.LeaderIndex() {
				t.Fatalf("the leader %d is not among the voters %v", c.LeaderIndex(), voters)
			}
		}
		dead[c.Members[victim].Name] = true
		c.Kill(victim)
		t.Logf("round %d: killed %s (%s); voters were %v", round+1, c.Members[victim].Name, pick, voters)
		now := waitVoters(fmt.Sprintf("3 live voters after killing %s", c.Members[victim].Name))
		t.Logf("round %d: voters now %v", round+1, now)
		for i, m := range c.Members {
			if !dead[m.Name] {
				mustWrite(t, c, i, fmt.Sprintf("after-round-%d", round+1))
				break
			}
		}
	}
	// Every survivor sees every write.
	for i, m := range c.Members {
		if dead[m.Name] {
			continue
		}
		c.Eventually(10*time.Second, m.Name+" has every write", func() error {
			for _, name := range []string{"before", "after-round-1", "after-round-2"} {
				if _, err := c.Client(i).CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{ResourceVersion: "0"}); err != nil {
					return err
				}
			}
			return nil
		})
	}
}
