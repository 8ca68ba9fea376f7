package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeGossip is a ServerSource the test sets.
type fakeGossip struct {
	mu      sync.Mutex
	servers map[string]KnownServer
	subs    []chan struct{}
}

func (g *fakeGossip) KnownServers() []KnownServer {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []KnownServer
	for _, s := range g.servers {
		out = append(out, s)
	}
	return out
}

func (g *fakeGossip) Subscribe() (<-chan struct{}, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{}, 1)
	g.subs = append(g.subs, ch)
	return ch, func() {}
}

func (g *fakeGossip) set(id, addr string, st ServerStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.servers == nil {
		g.servers = map[string]KnownServer{}
	}
	g.servers[id] = KnownServer{ID: id, Address: addr, Status: st}
	for _, ch := range g.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// votersCluster is n raft nodes, the first bootstrapped, the others only
// started: RunVoters, run on whichever node leads, brings them in.
type votersCluster struct {
	t      *testing.T
	nodes  []*testNode
	up     []bool
	gossip *fakeGossip
	cfg    VotersConfig

	mu sync.Mutex // guards nodes[i].raft and up against the leader loop
}

func newVotersCluster(t *testing.T, n int, cfg VotersConfig) *votersCluster {
	c := &votersCluster{t: t, gossip: &fakeGossip{}, cfg: cfg, up: make([]bool, n)}
	for i := range n {
		nd := &testNode{id: fmt.Sprintf("n%d", i+1), dir: t.TempDir()}
		nd.start(t, i == 0)
		c.nodes = append(c.nodes, nd)
		c.up[i] = true
		c.gossip.set(nd.id, nd.addr, ServerAlive)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go c.runOnLeader(ctx, done)
	t.Cleanup(func() {
		cancel()
		<-done
		for i, nd := range c.nodes {
			if c.up[i] {
				_ = nd.raft.Shutdown()
			}
		}
	})
	return c
}

// runOnLeader runs RunVoters on the current leader, moving it when
// leadership moves, as the node's leader loops do.
func (c *votersCluster) runOnLeader(ctx context.Context, done chan struct{}) {
	defer close(done)
	var (
		cur    *Raft
		stop   context.CancelFunc
		exited chan struct{}
	)
	halt := func() {
		if stop != nil {
			stop()
			<-exited
			stop, cur = nil, nil
		}
	}
	defer halt()
	for {
		var leader *Raft
		c.mu.Lock()
		for i, nd := range c.nodes {
			if c.up[i] && nd.raft.IsLeader() {
				leader = nd.raft
			}
		}
		c.mu.Unlock()
		if leader != cur {
			halt()
			if leader != nil {
				lctx, lcancel := context.WithCancel(ctx)
				stop = lcancel
				exited = make(chan struct{})
				cur = leader
				cfg := c.cfg
				cfg.Logger = testLogger(c.t).With("leader", leader.ID())
				go func() { defer close(exited); _ = leader.RunVoters(lctx, cfg, c.gossip) }()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill stops node i without a word, and gossip says it died.
func (c *votersCluster) kill(i int) {
	c.mu.Lock()
	c.up[i] = false
	c.mu.Unlock()
	c.nodes[i].stop(c.t)
	c.gossip.set(c.nodes[i].id, c.nodes[i].addr, ServerDead)
}

// restart starts node i again on its data and address.
func (c *votersCluster) restart(i int) {
	nd := c.nodes[i]
	nd.start(c.t, false)
	c.mu.Lock()
	c.up[i] = true
	c.mu.Unlock()
	c.gossip.set(nd.id, nd.addr, ServerAlive)
}

// config is the leader's configuration as "id:v"/"id:nv", sorted.
func (c *votersCluster) config() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.nodes {
		if !c.up[i] || !nd.raft.IsLeader() {
			continue
		}
		servers, err := nd.raft.Servers()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range servers {
			kind := "nv"
			if s.Voter {
				kind = "v"
			}
			out = append(out, s.ID+":"+kind)
		}
		slices.Sort(out)
		return out, nil
	}
	return nil, fmt.Errorf("no leader")
}

func (c *votersCluster) waitConfig(timeout time.Duration, want ...string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := c.config()
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("raft configuration after %s: expected %v, seen %v (%v)", timeout, want, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// write proposes one object through a running follower-or-leader.
func (c *votersCluster) write(name string) error {
	// A client retries a write whose outcome is unknown (leadership moved
	// under it: a restarted voter may call an election): what is tested is
	// that the cluster takes writes again, not that no election happens.
	// An "already exists" then means an earlier attempt landed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		up := -1
		for i := range c.nodes {
			if c.up[i] {
				up = i
				break
			}
		}
		if up < 0 {
			return fmt.Errorf("no node up")
		}
		_, err := c.nodes[up].raft.Propose(ctx, createCmd("default", name, nil))
		switch {
		case err == nil, errors.Is(err, ErrAlreadyExists):
			return nil
		case !errors.Is(err, ErrNotLeader) || ctx.Err() != nil:
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var votersTestConfig = VotersConfig{
	Voters: 3, Grace: 2 * time.Second, Stabilization: 500 * time.Millisecond, Interval: 200 * time.Millisecond,
}

// TestRunVotersGrowsAndReplaces: five raft nodes, three voters: the new
// nodes come in as non-voters and two are promoted; a voter killed one
// after the other is replaced each time, and the cluster keeps writing.
func TestRunVotersGrowsAndReplaces(t *testing.T) {
	c := newVotersCluster(t, 5, votersTestConfig)
	c.waitConfig(20*time.Second, "n1:v", "n2:v", "n3:v", "n4:nv", "n5:nv")
	if err := c.write("before"); err != nil {
		t.Fatalf("write with 3 voters: %v", err)
	}

	c.kill(1) // n2
	c.waitConfig(20*time.Second, "n1:v", "n2:nv", "n3:v", "n4:v", "n5:nv")
	if err := c.write("after-first"); err != nil {
		t.Fatalf("write after the first loss: %v", err)
	}
	c.kill(2) // n3
	c.waitConfig(20*time.Second, "n1:v", "n2:nv", "n3:nv", "n4:v", "n5:v")
	if err := c.write("after-second"); err != nil {
		t.Fatalf("write after the second loss: %v", err)
	}

	// A demoted voter that comes back is a non-voter that catches up; it
	// is a spare for the next loss.
	c.restart(1)
	eventually(t, "n2 catches up after its restart", func() bool {
		_, err := c.nodes[1].store.Get("configmaps", "default", "after-second")
		return err == nil
	})
	c.waitConfig(5*time.Second, "n1:v", "n2:nv", "n3:nv", "n4:v", "n5:v")
}

// TestRunVotersKeepsRestartedVoter: a voter down for less than the grace
// keeps its seat, and no other server is promoted meanwhile.
func TestRunVotersKeepsRestartedVoter(t *testing.T) {
	cfg := votersTestConfig
	cfg.Grace = 5 * time.Second
	c := newVotersCluster(t, 4, cfg)
	c.waitConfig(20*time.Second, "n1:v", "n2:v", "n3:v", "n4:nv")
	c.kill(2)
	time.Sleep(2 * time.Second)
	c.restart(2)
	// Well past the grace since the kill: a change would have shown.
	time.Sleep(cfg.Grace)
	c.waitConfig(time.Second, "n1:v", "n2:v", "n3:v", "n4:nv")
}

// TestRunVotersIgnoresStaleGossip: gossip calling a voter dead is not
// enough to take its seat while it still answers the leader (a leader's
// gossip can lag after a partition): the configuration stays as it is.
func TestRunVotersIgnoresStaleGossip(t *testing.T) {
	c := newVotersCluster(t, 4, votersTestConfig)
	c.waitConfig(20*time.Second, "n1:v", "n2:v", "n3:v", "n4:nv")
	c.gossip.set("n2", c.nodes[1].addr, ServerDead)
	time.Sleep(2 * votersTestConfig.Grace)
	c.waitConfig(time.Second, "n1:v", "n2:v", "n3:v", "n4:nv")
}

// TestRunVotersNeverPromotesUnreachable: a node gossip calls alive but
// whose raft does not answer (gossip starts before raft, and an agent whose
// raft cannot start is alive in gossip at every attempt) joins as a
// non-voter and is never promoted; the voter it could have replaced keeps
// its seat and votes again as soon as it is back.
func TestRunVotersNeverPromotesUnreachable(t *testing.T) {
	c := newVotersCluster(t, 3, votersTestConfig)
	c.gossip.set("ghost", "127.0.0.1:1", ServerAlive)
	c.waitConfig(20*time.Second, "ghost:nv", "n1:v", "n2:v", "n3:v")
	c.kill(2)
	time.Sleep(2 * votersTestConfig.Grace)
	c.waitConfig(time.Second, "ghost:nv", "n1:v", "n2:v", "n3:v")
	c.restart(2)
	if err := c.write("after-restart"); err != nil {
		t.Fatalf("write after the voter's restart: %v", err)
	}
	c.kill(1) // n3 must be voting again for a quorum of n1 and n3
	if err := c.write("with-n1-and-n3"); err != nil {
		t.Fatalf("write with n1 and the restarted n3 (n2 down): %v", err)
	}
}
