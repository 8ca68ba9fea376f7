package membership

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cutLab lets a test cut the links between gossip addresses on loopback:
// every member's transport drops what it would send across a cut (UDP
// packets silently, TCP dials with an error), so a cut is two-way when both
// ends use the lab.
type cutLab struct {
	mu  sync.Mutex
	cut map[[2]string]bool
}

func (l *cutLab) isCut(from, to string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut[[2]string{from, to}]
}

// isolate cuts (or, with on false, restores) every link between addr and
// the others.
func (l *cutLab) isolate(addr string, others []string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut == nil {
		l.cut = map[[2]string]bool{}
	}
	for _, o := range others {
		l.cut[[2]string{addr, o}] = on
		l.cut[[2]string{o, addr}] = on
	}
}

// cutTransport is a memberlist NetTransport that respects the lab's cuts.
type cutTransport struct {
	*memberlist.NetTransport
	lab  *cutLab
	self string
}

func (t *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.lab.isCut(t.self, addr) {
		return time.Now(), nil // lost on the wire
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.lab.isCut(t.self, addr) {
		return nil, errors.New("cut by the test")
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

// WriteToAddress and DialAddressTimeout are what memberlist calls on a
// node-aware transport such as NetTransport.
func (t *cutTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *cutTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// startLabMember starts a Membership on loopback whose traffic goes through
// the lab.
func startLabMember(t *testing.T, lab *cutLab, name string, key []byte) *Membership {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	port := nt.GetAutoBindPort()
	self := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m, err := New(Config{
		Name: name, BindAddr: "127.0.0.1", BindPort: port, AdvertiseAddr: "127.0.0.1", SecretKey: key,
		Meta: Meta{RaftAddr: "127.0.0.1:1"}, Logger: testLogger(t).With("node", name),
		Transport: &cutTransport{NetTransport: nt, lab: lab, self: self},
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

func aliveCount(m *Membership) int {
	n := 0
	for _, mem := range m.Members() {
		if mem.State == Alive {
			n++
		}
	}
	return n
}

// TestReconnectAfterPartition: a member cut off long enough for both sides
// to declare each other dead is back in everyone's view (and they in its)
// within seconds of the cut healing. Without the reconnect loop memberlist
// stays split: each side pushes and pulls only with the members it thinks
// alive.
func TestReconnectAfterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("real memberlist on loopback: takes ~15s")
	}
	var lab cutLab
	key := bytes.Repeat([]byte{7}, 32)
	a := startLabMember(t, &lab, "a", key)
	b := startLabMember(t, &lab, "b", key)
	c := startLabMember(t, &lab, "c", key)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, m := range []*Membership{a, b, c} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.runReconnect(ctx, 500*time.Millisecond) }()
	}
	defer func() { cancel(); wg.Wait() }()

	for _, m := range []*Membership{b, c} {
		if err := m.Join(ctx, []string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	all := []*Membership{a, b, c}
	for _, m := range all {
		eventually(t, 10*time.Second, m.cfg.Name+" sees 3 alive", func() bool { return aliveCount(m) == 3 })
	}

	lab.isolate(c.Addr(), []string{a.Addr(), b.Addr()}, true)
	for _, m := range []*Membership{a, b} {
		eventually(t, 15*time.Second, m.cfg.Name+" sees c dead", func() bool {
			mem, _ := stateOf(m, "c")
			return mem.State == Dead
		})
	}
	eventually(t, 15*time.Second, "c sees a and b dead", func() bool { return aliveCount(c) == 1 })
	// Let memberlist's broadcasts of the deaths run out, as they do in a
	// real partition of a few seconds.
	time.Sleep(2 * time.Second)

	lab.isolate(c.Addr(), []string{a.Addr(), b.Addr()}, false)
	healed := time.Now()
	for _, m := range all {
		eventually(t, 10*time.Second, m.cfg.Name+" sees all 3 alive again after the cut healed", func() bool { return aliveCount(m) == 3 })
	}
	t.Logf("merged %v after the cut healed", time.Since(healed).Round(time.Millisecond))
}
