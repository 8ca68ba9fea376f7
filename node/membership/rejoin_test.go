package membership

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestSavedPeers(t *testing.T) {
	dir := t.TempDir()
	if got, err := SavedPeers(dir); err != nil || got != nil {
		t.Fatalf("no file: %v, %v; want none and no error", got, err)
	}
	want := []string{"192.0.2.1:7946", "192.0.2.2:7946"}
	if err := SavePeers(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err := SavedPeers(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("saved = %v, %v; want %v", got, err, want)
	}
	if got, err := ForgetPeers(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("forgotten = %v, %v; want %v", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, PeersFile)); !os.IsNotExist(err) {
		t.Fatalf("peers file still there: %v", err)
	}
	if got, err := ForgetPeers(dir); err != nil || got != nil {
		t.Fatalf("forget twice: %v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, PeersFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SavedPeers(dir); err == nil {
		t.Error("a corrupt peers file read without an error")
	}
}

// runRejoin runs m.RunRejoin until the test ends.
func runRejoin(t *testing.T, m *Membership, cfg RejoinConfig) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.RunRejoin(ctx, cfg); err != nil {
			t.Errorf("RunRejoin: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestRejoinSavedPeers: a restarted node with no --join finds the cluster
// again through the peers it saved, and keeps the list current.
func TestRejoinSavedPeers(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := startMember(t, "a", key)
	b := startMember(t, "b", key)
	dir := t.TempDir()
	if err := SavePeers(dir, []string{"127.0.0.1:1", a.Addr()}); err != nil { // one peer gone for good
		t.Fatal(err)
	}
	runRejoin(t, b, RejoinConfig{DataDir: dir, Interval: 100 * time.Millisecond})
	eventually(t, 10*time.Second, "b rejoins a", func() bool {
		m, ok := stateOf(a, "b")
		return ok && m.State == Alive
	})
	eventually(t, 5*time.Second, "b saves only the alive peer", func() bool {
		got, _ := SavedPeers(dir)
		return slices.Equal(got, []string{a.Addr()})
	})
	if got := b.PeerAPIAddrs(); len(got) != 0 {
		t.Errorf("PeerAPIAddrs = %v; a advertises no API", got)
	}
	if n := b.NumMembers(); n != 2 {
		t.Errorf("NumMembers = %d, want 2", n)
	}
}

// TestRejoinContactsJoinAddresses: with no saved peers, the --join
// addresses are contacted; a node that has just joined contacts nobody.
func TestRejoinContactsJoinAddresses(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := startMember(t, "a", key)
	b := startMember(t, "b", key)
	c := startMember(t, "c", key)
	runRejoin(t, b, RejoinConfig{DataDir: t.TempDir(), Join: []string{a.Addr()}, Interval: 100 * time.Millisecond})
	runRejoin(t, c, RejoinConfig{DataDir: t.TempDir(), Join: []string{a.Addr()}, Joined: true, Interval: 100 * time.Millisecond})
	eventually(t, 10*time.Second, "b joins a", func() bool {
		m, ok := stateOf(a, "b")
		return ok && m.State == Alive
	})
	time.Sleep(500 * time.Millisecond)
	if _, ok := stateOf(a, "c"); ok {
		t.Error("a node that had just joined contacted its --join address again")
	}
}
