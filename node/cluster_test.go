package node_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoal-project/shoal/internal/testcluster"
	"github.com/shoal-project/shoal/node"
)

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: data}
}

// TestWriteOnAnyPeerReadableEverywhere: for 1, 3 and 5 nodes, a write made
// through each peer is readable through every peer right after the write
// returns on that peer, and eventually (quorum reads) on every other.
func TestWriteOnAnyPeerReadableEverywhere(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) {
			if n == 5 && testing.Short() {
				t.Skip("5-node cluster skipped in -short")
			}
			c := testcluster.New(t, n)
			ctx := context.Background()
			for i := range c.Members {
				name := fmt.Sprintf("from-%d", i)
				if _, err := c.Client(i).CoreV1().ConfigMaps("default").Create(ctx, configMap(name, map[string]string{"writer": strconv.Itoa(i)}), metav1.CreateOptions{}); err != nil {
					t.Fatalf("create %s on %s: %v", name, c.Members[i].Name, err)
				}
				// Read-your-writes on the same peer, from its local replica.
				got, err := c.Client(i).CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"})
				if err != nil || got.Data["writer"] != strconv.Itoa(i) {
					t.Fatalf("read back %s on %s: %v %v", name, c.Members[i].Name, got, err)
				}
			}
			for j := range c.Members {
				list, err := c.Client(j).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatalf("list on %s: %v", c.Members[j].Name, err)
				}
				if len(list.Items) != n {
					t.Fatalf("%s lists %d configmaps, want %d", c.Members[j].Name, len(list.Items), n)
				}
			}
		})
	}
}

// TestConflictingUpdates: two updates from the same resourceVersion, through
// different peers; the second gets 409 Conflict.
func TestConflictingUpdates(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx := context.Background()
	cm, err := c.Client(0).CoreV1().ConfigMaps("default").Create(ctx, configMap("race", map[string]string{"v": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := cm.DeepCopy(), cm.DeepCopy()
	a.Data["v"], b.Data["v"] = "a", "b"
	if _, err := c.Client(1).CoreV1().ConfigMaps("default").Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("first update: %v", err)
	}
	_, err = c.Client(2).CoreV1().ConfigMaps("default").Update(ctx, b, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("second update from the same resourceVersion: want 409 Conflict, got %v", err)
	}
	got, _ := c.Client(2).CoreV1().ConfigMaps("default").Get(ctx, "race", metav1.GetOptions{})
	if got.Data["v"] != "a" {
		t.Fatalf("stored value = %q, want the first update's \"a\"", got.Data["v"])
	}
}

// TestLeaderFailover: killing the leader elects another; writes resume,
// and a watch opened on a follower before the failure sees every event in
// order with no gap or duplicate, across the leader change.
func TestLeaderFailover(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx := context.Background()
	leader := c.LeaderIndex()
	follower := (leader + 1) % 3
	w, err := c.Client(follower).CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const before, after = 20, 20
	for i := 0; i < before; i++ {
		if _, err := c.Client(follower).CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("cm-%03d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create before failover: %v", err)
		}
	}
	c.Kill(leader)
	c.WaitForLeader()
	if c.LeaderIndex() == leader {
		t.Fatal("the killed node still leads")
	}
	for i := before; i < before+after; i++ {
		var err error
		testcluster.Eventually(t, 20*time.Second, "a write after failover", func() error {
			_, err = c.Client(follower).CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("cm-%03d", i), nil), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
	}
	var seen []string
	lastRV := 0
	timeout := time.After(30 * time.Second)
	for len(seen) < before+after {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d events", len(seen))
			}
			if ev.Type != watch.Added {
				t.Fatalf("event %d: type %s, want ADDED", len(seen), ev.Type)
			}
			cm := ev.Object.(*corev1.ConfigMap)
			rv, _ := strconv.Atoi(cm.ResourceVersion)
			if rv <= lastRV {
				t.Fatalf("event %s has resourceVersion %d after %d: out of order", cm.Name, rv, lastRV)
			}
			lastRV = rv
			seen = append(seen, cm.Name)
		case <-timeout:
			t.Fatalf("watch saw %d of %d events: %v", len(seen), before+after, seen)
		}
	}
	for i, name := range seen {
		if want := fmt.Sprintf("cm-%03d", i); name != want {
			t.Fatalf("event %d is %s, want %s (gap or duplicate): %v", i, name, want, seen)
		}
	}
}

// TestVoterReplacedByNonVoter: 5 nodes, 3 voters; a killed voter is removed
// and a healthy non-voter promoted.
func TestVoterReplacedByNonVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("5-node failover skipped in -short")
	}
	c := testcluster.New(t, 5, testcluster.WithVoters(3), testcluster.WithVoterGrace(time.Second))
	voters := func() (map[string]bool, error) {
		l := c.Leader()
		if l == nil {
			return nil, fmt.Errorf("no leader")
		}
		ss, err := l.Node.Raft().Servers()
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, s := range ss {
			if s.Voter {
				out[s.ID] = true
			}
		}
		return out, nil
	}
	var before map[string]bool
	c.Eventually(30*time.Second, "3 voters", func() (err error) {
		before, err = voters()
		if err == nil && len(before) != 3 {
			err = fmt.Errorf("voters %v", before)
		}
		return err
	})
	// Kill a voter that does not lead, so the test is about replacement.
	victim := -1
	for i, m := range c.Members {
		if before[m.Name] && i != c.LeaderIndex() {
			victim = i
			break
		}
	}
	c.Kill(victim)
	c.Eventually(60*time.Second, "the dead voter replaced by a non-voter", func() error {
		now, err := voters()
		if err != nil {
			return err
		}
		if now[c.Members[victim].Name] || len(now) != 3 {
			return fmt.Errorf("voters %v (killed %s)", now, c.Members[victim].Name)
		}
		return nil
	})
	if _, err := c.Client(c.LeaderIndex()).CoreV1().ConfigMaps("default").Create(context.Background(), configMap("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatalf("write after replacement: %v", err)
	}
	// Gossip, not heartbeats, drives the Node's Ready condition.
	c.Eventually(30*time.Second, "the dead node's Ready condition to be Unknown", func() error {
		n, err := c.Client(c.LeaderIndex()).CoreV1().Nodes().Get(context.Background(), c.Members[victim].Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status != corev1.ConditionUnknown {
					return fmt.Errorf("Ready=%s (%s)", cond.Status, cond.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no Ready condition")
	})
	for i, m := range c.Members {
		if i == victim {
			continue
		}
		n, err := c.Client(c.LeaderIndex()).CoreV1().Nodes().Get(context.Background(), m.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := readyStatus(n); st != corev1.ConditionTrue {
			t.Fatalf("live node %s: Ready=%s, want True", m.Name, st)
		}
	}
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}

// TestRestartKeepsData: a node stopped and started on the same data dir
// still has every object, and catches up on writes made while it was down.
func TestRestartKeepsData(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx := context.Background()
	if _, err := c.Client(0).CoreV1().ConfigMaps("default").Create(ctx, configMap("kept", map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	victim := (c.LeaderIndex() + 1) % 3
	c.StopGracefully(victim)
	other := (victim + 1) % 3
	if _, err := c.Client(other).CoreV1().ConfigMaps("default").Create(ctx, configMap("while-down", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Restart(victim)
	c.Eventually(30*time.Second, "restarted node has old and new data", func() error {
		for _, name := range []string{"kept", "while-down"} {
			if _, err := c.Client(victim).CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"}); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestWrongTokenRefused: a node that joins with a token of another secret
// is refused with a clear message, and the cluster is unchanged.
func TestWrongTokenRefused(t *testing.T) {
	c := testcluster.New(t, 1)
	good := c.Token()
	// Same CA hash, different secret.
	i := strings.LastIndex(good, "-")
	bad := good[:i+1] + strings.Repeat("ab", 32)
	cfg := node.DefaultConfig()
	cfg.Name = "intruder"
	cfg.DataDir = t.TempDir()
	cfg.BindAddr, cfg.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	cfg.GossipPort, cfg.RaftPort, cfg.APIPort = freePort(t), freePort(t), freePort(t)
	cfg.Join = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Members[0].Config.GossipPort))}
	cfg.Token = bad
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := node.RunAgent(ctx, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "join refused") {
		t.Fatalf("join with a wrong token: want an error saying \"join refused\", got %v", err)
	}
	servers, _ := c.Members[0].Node.Raft().Servers()
	if len(servers) != 1 {
		t.Fatalf("raft servers after refused join: %v", servers)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNodeRoleLabels: every Node shows its gossip state and raft role, so
// `get nodes -o wide` (or -l shoal.io/raft-role=leader) tells who leads.
func TestNodeRoleLabels(t *testing.T) {
	c := testcluster.New(t, 3)
	c.Eventually(30*time.Second, "one leader and two voters, all alive", func() error {
		nodes, err := c.Client(1).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		roles := map[string]int{}
		for _, n := range nodes.Items {
			if n.Labels["shoal.io/gossip"] != "alive" {
				return fmt.Errorf("%s gossip label %q", n.Name, n.Labels["shoal.io/gossip"])
			}
			roles[n.Labels["shoal.io/raft-role"]]++
			if n.Labels["shoal.io/raft-role"] == "leader" && n.Name != c.Leader().Name {
				return fmt.Errorf("%s labelled leader, but %s leads", n.Name, c.Leader().Name)
			}
		}
		if roles["leader"] != 1 || roles["voter"] != 2 {
			return fmt.Errorf("roles %v", roles)
		}
		return nil
	})
}
