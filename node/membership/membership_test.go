package membership

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// startMember starts a Membership on a random 127.0.0.1 port and shuts it
// down when the test ends.
func startMember(t *testing.T, name string, key []byte) *Membership {
	t.Helper()
	m, err := New(Config{
		Name: name, BindAddr: "127.0.0.1", SecretKey: key,
		Meta:   Meta{RaftAddr: "127.0.0.1:1", Roles: []string{"server"}, CPU: 2000},
		Logger: testLogger(t).With("node", name),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// stateOf returns what m believes about the member named name.
func stateOf(m *Membership, name string) (Member, bool) {
	for _, mem := range m.Members() {
		if mem.Name == name {
			return mem, true
		}
	}
	return Member{}, false
}

func TestMembershipGossip(t *testing.T) {
	if testing.Short() {
		t.Skip("real memberlist on loopback: takes ~10s")
	}
	key := bytes.Repeat([]byte{1}, 32)
	a := startMember(t, "a", key)
	b := startMember(t, "b", key)
	c := startMember(t, "c", key)
	events, cancel := a.Subscribe()
	defer cancel()

	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for _, m := range []*Membership{b, c} {
		if err := m.Join(ctx, []string{a.Addr()}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	for _, m := range []*Membership{a, b, c} {
		eventually(t, 5*time.Second, m.cfg.Name+" sees 3 alive", func() bool {
			n := 0
			for _, mem := range m.Members() {
				if mem.State == Alive {
					n++
				}
			}
			return n == 3
		})
	}
	select {
	case <-events:
	default:
		t.Fatal("subscriber was not notified of joins")
	}
	if mem, _ := stateOf(b, "a"); mem.Meta.CPU != 2000 || mem.Addr != a.Addr() {
		t.Fatalf("b's view of a: %+v", mem)
	}

	// Metadata updates propagate.
	if err := a.UpdateMeta(Meta{RaftAddr: "127.0.0.1:2", Version: "v9.9.9"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "c sees a's new metadata", func() bool {
		mem, _ := stateOf(c, "a")
		return mem.Meta.Version == "v9.9.9"
	})

	// A node with another key cannot join, and says why.
	d := startMember(t, "d", bytes.Repeat([]byte{2}, 32))
	err := d.Join(ctx, []string{a.Addr()})
	if !errors.Is(err, ErrGossipKeyMismatch) || err.Error() != "join refused: gossip key mismatch (wrong token?)" {
		t.Fatalf("join with wrong key = %v, want %v", err, ErrGossipKeyMismatch)
	}
	if _, ok := stateOf(a, "d"); ok {
		t.Fatal("a admitted d despite the key mismatch")
	}

	// A crashed node is declared dead by the others.
	start := time.Now()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, m := range []*Membership{a, b} {
		eventually(t, 10*time.Second, m.cfg.Name+" sees c dead", func() bool {
			mem, _ := stateOf(m, "c")
			return mem.State == Dead
		})
	}
	mem, _ := stateOf(a, "c")
	t.Logf("c declared dead after %v (a's Since %v after shutdown)", time.Since(start).Round(time.Millisecond), mem.Since.Sub(start).Round(time.Millisecond))

	// A graceful leave shows as Left.
	if err := b.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a sees b left", func() bool {
		mem, _ := stateOf(a, "b")
		return mem.State == Left
	})
}

func TestMembershipMockNetwork(t *testing.T) {
	var network memberlist.MockNetwork
	key := bytes.Repeat([]byte{3}, 16)
	var ms []*Membership
	for _, name := range []string{"x", "y"} {
		m, err := New(Config{Name: name, SecretKey: key, Transport: network.NewTransport(name), Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Shutdown() })
		ms = append(ms, m)
	}
	if err := ms[1].Join(context.Background(), []string{ms[0].Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "x sees y", func() bool {
		mem, ok := stateOf(ms[0], "y")
		return ok && mem.State == Alive
	})
}

func TestNewValidates(t *testing.T) {
	key := make([]byte, 32)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{SecretKey: key}, "Name is required"},
		{"no key", Config{Name: "a"}, "SecretKey must be 16, 24 or 32 bytes, got 0"},
		{"meta too large", Config{Name: "a", SecretKey: key, Meta: Meta{Version: strings.Repeat("v", 600)}}, "node metadata too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
	m, err := New(Config{Name: "a", SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Join(context.Background(), []string{"127.0.0.1:1"}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Join before Start = %v", err)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Start after Shutdown = %v", err)
	}
}

func TestSubscribeCoalescesAndCancels(t *testing.T) {
	m, err := New(Config{Name: "a", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := m.Subscribe()
	m.mu.Lock()
	m.notifyLocked()
	m.notifyLocked() // must not block
	m.mu.Unlock()
	<-ch
	select {
	case <-ch:
		t.Fatal("notifications did not coalesce")
	default:
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed by cancel")
	}
}
