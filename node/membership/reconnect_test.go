package membership

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cuttableTransport is memberlist's network transport with a switch that
// drops every packet and refuses every stream to or from chosen addresses:
// a cut cable, as each side of it sees it.
type cuttableTransport struct {
	*memberlist.NetTransport
	mu  sync.Mutex
	cut map[string]bool // host:port of peers we cannot reach
	all bool            // this node is cut from everyone
}

func (c *cuttableTransport) blocked(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all || c.cut[addr]
}

func (c *cuttableTransport) set(all bool, addrs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = all
	c.cut = make(map[string]bool)
	for _, a := range addrs {
		c.cut[a] = true
	}
}

func (c *cuttableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if c.blocked(addr) {
		return time.Now(), nil // lost on the wire
	}
	return c.NetTransport.WriteTo(b, addr)
}

// memberlist prefers the node-aware methods when the transport has them.
func (c *cuttableTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	return c.WriteTo(b, addr.Addr)
}

func (c *cuttableTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return c.DialTimeout(addr.Addr, timeout)
}

func (c *cuttableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if c.blocked(addr) {
		return nil, errors.New("cut: no route to host")
	}
	return c.NetTransport.DialTimeout(addr, timeout)
}

// startCuttable starts a member on 127.0.0.1 whose links can be cut, with
// gossip to the dead shortened so a short cut outlasts it.
func startCuttable(t *testing.T, name string, key []byte) (*Membership, *cuttableTransport) {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0})
	if err != nil {
		t.Fatal(err)
	}
	tr := &cuttableTransport{NetTransport: nt}
	m, err := New(Config{
		Name: name, BindAddr: "127.0.0.1", BindPort: nt.GetAutoBindPort(), SecretKey: key,
		Meta:            Meta{RaftAddr: "127.0.0.1:1", Roles: []string{"server"}},
		Logger:          testLogger(t).With("node", name),
		Transport:       tr,
		gossipToTheDead: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m, tr
}

// TestReconnectAfterLongPartition: a member cut off for longer than
// memberlist gossips to the dead is Dead on both sides for good; with
// RunReconnect on, both sides see each other Alive again once the cut
// heals, and without it they do not.
func TestReconnectAfterLongPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("real memberlist on loopback: takes ~15s")
	}
	for _, reconnect := range []bool{false, true} {
		name := map[bool]string{false: "without reconnect", true: "with reconnect"}[reconnect]
		t.Run(name, func(t *testing.T) {
			key := bytes.Repeat([]byte{7}, 32)
			a, ta := startCuttable(t, "a", key)
			b, tb := startCuttable(t, "b", key)
			c, tc := startCuttable(t, "c", key)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			for _, m := range []*Membership{b, c} {
				if err := m.Join(ctx, []string{a.Addr()}); err != nil {
					t.Fatalf("join: %v", err)
				}
			}
			if reconnect {
				for _, m := range []*Membership{a, b, c} {
					wg.Add(1)
					go func() { defer wg.Done(); _ = m.RunReconnect(ctx, 300*time.Millisecond, time.Hour) }()
				}
			}
			for _, m := range []*Membership{a, b, c} {
				eventually(t, 5*time.Second, m.cfg.Name+" sees 3 alive", func() bool { return aliveCount(m) == 3 })
			}

			// Cut c off from a and b, past the suspicion timeout and past
			// gossip to the dead.
			tc.set(true)
			ta.set(false, c.Addr())
			tb.set(false, c.Addr())
			eventually(t, 10*time.Second, "a sees c dead", func() bool { mem, _ := stateOf(a, "c"); return mem.State == Dead })
			eventually(t, 10*time.Second, "c sees a and b dead", func() bool { return aliveCount(c) == 1 })
			time.Sleep(2 * time.Second) // > gossipToTheDead: nobody talks to c any more

			tc.set(false)
			ta.set(false)
			tb.set(false)
			healed := func() bool { return aliveCount(a) == 3 && aliveCount(b) == 3 && aliveCount(c) == 3 }
			if reconnect {
				eventually(t, 10*time.Second, "all three alive everywhere after the cut heals", healed)
				return
			}
			time.Sleep(4 * time.Second)
			if healed() {
				t.Fatal("without reconnect the cluster healed on its own: the test does not exercise a lasting partition")
			}
		})
	}
}

func aliveCount(m *Membership) int {
	n := 0
	for _, mem := range m.Members() {
		if mem.State == Alive {
			n++
		}
	}
	return n
}
