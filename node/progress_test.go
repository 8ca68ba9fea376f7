package node_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testcluster"
	"github.com/shoal-project/shoal/node"
)

// lockedBuffer is written by the node while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestJoinProgress: a joining node says what it is doing, step by step,
// ending when it is a raft member.
func TestJoinProgress(t *testing.T) {
	c := testcluster.New(t, 1)
	seed := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Members[0].Config.GossipPort))
	cfg := node.DefaultConfig()
	cfg.Name = "joiner"
	cfg.DataDir = t.TempDir()
	cfg.BindAddr, cfg.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	cfg.GossipPort, cfg.RaftPort, cfg.APIPort = freePort(t), freePort(t), freePort(t)
	cfg.RunPods = false
	cfg.Join, cfg.Token = []string{seed}, c.Token()
	var out lockedBuffer
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), node.WithProgress(&out))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("joiner stopped: %v", err)
		}
	}()
	want := regexp.MustCompile(`^shoal: contacting ` + regexp.QuoteMeta(seed) + `\.\.\.
shoal: joined gossip: 2 members
shoal: got the cluster certificate from 127\.0\.0\.1:\d+
shoal: raft member \((voter|non-voter)\), leader node-0; 2 servers
$`)
	deadline := time.Now().Add(60 * time.Second)
	for !want.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("progress:\n%s\nwant it to match\n%s", out.String(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
