package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/node"
)

// Option changes how New builds the cluster.
type Option func(*options)

type options struct {
	voters             int
	voterGrace         time.Duration
	voterStabilization time.Duration
	logLevel           slog.Level
}

// WithVoters sets the cluster's voter count (default 3).
func WithVoters(n int) Option { return func(o *options) { o.voters = n } }

// WithVoterGrace sets how long a down voter keeps its seat (default 2s).
func WithVoterGrace(d time.Duration) Option { return func(o *options) { o.voterGrace = d } }

// WithVoterStabilization sets how long a non-voter must be healthy before
// it is promoted (default 1s).
func WithVoterStabilization(d time.Duration) Option {
	return func(o *options) { o.voterStabilization = d }
}

// Member is one node of the test cluster.
type Member struct {
	Name   string
	Config node.Config
	Node   *node.Node

	cancel context.CancelFunc
	done   chan error
}

// Running says whether the member's node is up.
func (m *Member) Running() bool { return m.cancel != nil }

// Cluster is a set of in-process nodes.
type Cluster struct {
	t       testing.TB
	opts    options
	Members []*Member
	token   string
}

// New starts n nodes: the first bootstraps the cluster, the others join it
// with its token. It returns once every node serves its API and knows the
// leader.
func New(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	o := options{voters: 3, voterGrace: 2 * time.Second, voterStabilization: time.Second, logLevel: slog.LevelWarn}
	if os.Getenv("SHOAL_TEST_DEBUG") != "" {
		o.logLevel = slog.LevelDebug
	}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Cluster{t: t, opts: o}
	base := t.TempDir()
	for i := 0; i < n; i++ {
		ports := FreePorts(t, 3)
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("node-%d", i)
		cfg.DataDir = filepath.Join(base, cfg.Name)
		cfg.BindAddr, cfg.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
		cfg.GossipPort, cfg.RaftPort, cfg.APIPort = ports[0], ports[1], ports[2]
		cfg.Voters = o.voters
		cfg.RunPods = false
		cfg.VoterGrace = o.voterGrace
		cfg.VoterStabilization = o.voterStabilization
		if i > 0 {
			cfg.Join = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Members[0].Config.GossipPort))}
			cfg.Token = c.token
		}
		m := &Member{Name: cfg.Name, Config: cfg}
		c.Members = append(c.Members, m)
		if err := c.start(m); err != nil {
			t.Fatalf("start %s: %v", m.Name, err)
		}
		if i == 0 {
			c.token = m.Node.Cluster().JoinToken()
			c.WaitForLeader()
		}
	}
	t.Cleanup(c.Stop)
	c.Eventually(60*time.Second, "every node in the raft configuration", func() error {
		l := c.Leader()
		if l == nil {
			return fmt.Errorf("no leader")
		}
		servers, err := l.Node.Raft().Servers()
		if err != nil {
			return err
		}
		if len(servers) != n {
			return fmt.Errorf("raft has %d servers, want %d", len(servers), n)
		}
		return nil
	})
	// Nodes join as non-voters and are promoted once healthy, never to an
	// even count; tests may kill a voter as soon as New returns.
	want := min(n, o.voters)
	if want%2 == 0 {
		want--
	}
	c.Eventually(60*time.Second, fmt.Sprintf("%d raft voters", want), func() error {
		voters, err := c.Voters()
		if err == nil && len(voters) != want {
			err = fmt.Errorf("voters %v", voters)
		}
		return err
	})
	c.Eventually(30*time.Second, "the system namespaces", func() error {
		for _, m := range c.Members {
			if _, err := m.Node.Store().Get("namespaces", "", "kube-system"); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	return c
}

// Token is the cluster's join token.
func (c *Cluster) Token() string { return c.token }

// start runs m's node and waits until it serves.
func (c *Cluster) start(m *Member) error {
	logger := slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: c.opts.logLevel}))
	n, err := node.New(m.Config, logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		cancel()
		return fmt.Errorf("node exited: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		return fmt.Errorf("node not ready after 60s")
	}
	m.Node, m.cancel, m.done = n, cancel, done
	return nil
}

// Kill stops member i as if it crashed: no gossip leave.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.Members[i]
	if m.cancel == nil {
		return
	}
	m.Node.SimulateCrash()
	c.stopMember(m)
}

// StopGracefully stops member i as SIGTERM stops an agent: shutdown in
// order, with a gossip leave only when its Config.LeaveOnStop asks for one.
func (c *Cluster) StopGracefully(i int) { c.stopMember(c.Members[i]) }

func (c *Cluster) stopMember(m *Member) {
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			c.t.Logf("%s stopped: %v", m.Name, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Errorf("%s did not stop within 30s", m.Name)
	}
	m.cancel = nil
}

// WaitStopped waits until member i's node stops by itself (after `shoal
// leave`) and returns what its Run returned.
func (c *Cluster) WaitStopped(i int, timeout time.Duration) error {
	m := c.Members[i]
	if m.cancel == nil {
		return fmt.Errorf("%s is not running", m.Name)
	}
	select {
	case err := <-m.done:
		m.cancel()
		m.cancel = nil
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%s still runs after %s", m.Name, timeout)
	}
}

// Restart starts member i again on its data dir (without --join: it finds
// its peers from what it saved).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.Members[i]
	m.Config.Join, m.Config.Token = nil, ""
	if err := c.start(m); err != nil {
		c.t.Fatalf("restart %s: %v", m.Name, err)
	}
}

// RestartJoining starts member i again on its data dir with --join addrs,
// as a unit file that keeps its `shoal join` line does.
func (c *Cluster) RestartJoining(i int, addrs []string) {
	c.t.Helper()
	m := c.Members[i]
	m.Config.Join, m.Config.Token = addrs, c.Token()
	if err := c.start(m); err != nil {
		c.t.Fatalf("restart %s: %v", m.Name, err)
	}
}

// Stop stops every running member.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		if m.cancel != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.stopMember(m) }()
		}
	}
	wg.Wait()
}

// Leader is the running member that leads, or nil.
func (c *Cluster) Leader() *Member {
	for _, m := range c.Members {
		if m.cancel != nil && m.Node.Raft().IsLeader() {
			return m
		}
	}
	return nil
}

// LeaderIndex is the index of the leading member, or -1.
func (c *Cluster) LeaderIndex() int {
	for i, m := range c.Members {
		if m.cancel != nil && m.Node.Raft().IsLeader() {
			return i
		}
	}
	return -1
}

// Voters names the voters of the leader's raft configuration, sorted.
func (c *Cluster) Voters() ([]string, error) {
	l := c.Leader()
	if l == nil {
		return nil, fmt.Errorf("no leader")
	}
	servers, err := l.Node.Raft().Servers()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range servers {
		if s.Voter {
			out = append(out, s.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// WaitForLeader waits until some running member leads.
func (c *Cluster) WaitForLeader() *Member {
	c.t.Helper()
	var l *Member
	c.Eventually(30*time.Second, "a raft leader", func() error {
		if l = c.Leader(); l == nil {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return l
}

// RESTConfig is a client config for member i's API as the admin.
func (c *Cluster) RESTConfig(i int) *rest.Config {
	m := c.Members[i]
	return &rest.Config{
		Host:            m.Node.APIURL(),
		BearerToken:     m.Node.Cluster().AdminToken(),
		TLSClientConfig: rest.TLSClientConfig{CAData: m.Node.Cluster().CACertPEM},
		QPS:             1000, Burst: 1000,
		Timeout: 30 * time.Second,
	}
}

// Client is a client-go clientset for member i.
func (c *Cluster) Client(i int) kubernetes.Interface {
	c.t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(i))
	if err != nil {
		c.t.Fatalf("client for %s: %v", c.Members[i].Name, err)
	}
	return cs
}

// Eventually polls cond until it returns nil or timeout passes, then fails
// the test with cond's last error.
func (c *Cluster) Eventually(timeout time.Duration, what string, cond func() error) {
	c.t.Helper()
	Eventually(c.t, timeout, what, cond)
}

// Eventually polls cond every 50ms until it returns nil; after timeout the
// test fails, saying what it waited for and what it saw last.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePorts finds n ports free for both TCP and UDP on 127.0.0.1. They
// come from below the kernel's ephemeral range (32768 and up): a node
// binds its API port only after it has joined, and in between a port the
// kernel handed out for ":0" may go to some other process's outgoing
// connection, while nothing takes a port from this range unasked.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free port pair below 32768 after %d tries", tries)
		}
		p := 20000 + rand.IntN(12000)
		if slices.Contains(ports, p) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		ports = append(ports, p)
	}
	return ports
}

// testWriter sends log lines to t.Log while the test runs.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
