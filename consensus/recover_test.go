package consensus

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// A three-voter cluster loses two voters for good. InspectRaft tells the
// most up-to-date survivor, RecoverRaft makes it a one-voter cluster, and
// it restarts with every write it had, and takes writes again.
func TestRecoverRaftFromTheMostUpToDateSurvivor(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	leader := waitLeader(t, nodes)
	for i := range 10 {
		if _, err := leader.raft.Propose(ctx, createCmd("default", fmt.Sprintf("early-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every node applied the early writes", func() bool {
		for _, n := range nodes {
			if n.store.Index() < leader.store.Index() {
				return false
			}
		}
		return true
	})
	for _, n := range nodes { // so that recovery starts from a snapshot and a log
		if err := n.raft.Snapshot(); err != nil {
			t.Fatalf("snapshot %s: %v", n.id, err)
		}
	}
	// One follower stops early: it misses the later writes.
	behind := followers(nodes)[0]
	behind.stop(t)
	for i := range 10 {
		if _, err := leader.raft.Propose(ctx, createCmd("default", fmt.Sprintf("late-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	var ahead *testNode
	for _, n := range nodes {
		if n != behind && n != leader {
			ahead = n
		}
	}
	eventually(t, "the other follower applied every write", func() bool { return ahead.store.Index() >= leader.store.Index() })

	if _, err := InspectRaft(ahead.dir, testLogger(t)); !errors.Is(err, ErrRaftInUse) {
		t.Fatalf("InspectRaft on a running node: %v, want ErrRaftInUse", err)
	}
	ahead.stop(t)
	leader.stop(t)

	states := map[string]RaftState{}
	for _, n := range []*testNode{behind, ahead} {
		st, err := InspectRaft(n.dir, testLogger(t))
		if err != nil {
			t.Fatalf("inspect %s: %v", n.id, err)
		}
		if len(st.Servers) != 3 || !st.Servers[0].Voter || st.LastTerm == 0 || st.SnapshotIndex == 0 {
			t.Fatalf("inspect %s: %+v, want 3 voters, a term and a snapshot", n.id, st)
		}
		states[n.id] = st
	}
	if a, b := states[ahead.id], states[behind.id]; a.LastIndex <= b.LastIndex || a.LastTerm < b.LastTerm {
		t.Fatalf("inspect: %s (stopped last) at index %d term %d, %s (stopped early) at index %d term %d: want the first ahead",
			ahead.id, a.LastIndex, a.LastTerm, behind.id, b.LastIndex, b.LastTerm)
	}

	res, err := RecoverRaft(ahead.dir, ahead.id, ahead.addr, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 20 || res.Index != states[ahead.id].LastIndex {
		t.Fatalf("recover: %d objects at index %d, want 20 at the last index %d", res.Objects, res.Index, states[ahead.id].LastIndex)
	}
	if _, err := os.Stat(res.Backup); err != nil {
		t.Fatalf("the old raft data is not kept: %v", err)
	}
	st, err := InspectRaft(ahead.dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 1 || st.Servers[0].ID != ahead.id || !st.Servers[0].Voter || st.LastIndex != res.Index {
		t.Fatalf("after recover: %+v, want %s the only voter at index %d", st, ahead.id, res.Index)
	}

	ahead.start(t, false)
	defer ahead.stop(t)
	eventually(t, ahead.id+" leading alone", ahead.raft.IsLeader)
	for _, name := range []string{"early-0", "early-9", "late-0", "late-9"} {
		if _, err := ahead.store.Get("configmaps", "default", name); err != nil {
			t.Fatalf("after recovery, %s: %v", name, err)
		}
	}
	obj, err := ahead.raft.Propose(ctx, createCmd("default", "after", nil))
	if err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if obj.ResourceVersion <= res.Index {
		t.Fatalf("write after recovery at resourceVersion %d, want above the recovered index %d", obj.ResourceVersion, res.Index)
	}
	if err := ahead.raft.ConsistentRead(ctx); err != nil {
		t.Fatalf("consistent read after recovery: %v", err)
	}
	servers, err := ahead.raft.Servers()
	if err != nil || len(servers) != 1 {
		t.Fatalf("configuration after recovery: %+v, %v; want %s alone", servers, err, ahead.id)
	}
}

func TestRecoverRaftRefusesWithoutState(t *testing.T) {
	dir := t.TempDir()
	if _, err := RecoverRaft(dir, "n1", "127.0.0.1:1", testLogger(t)); !errors.Is(err, ErrNoRaftState) {
		t.Fatalf("recover of an empty dir: %v, want ErrNoRaftState", err)
	}
	if _, err := InspectRaft(dir, testLogger(t)); !errors.Is(err, ErrNoRaftState) {
		t.Fatalf("inspect of an empty dir: %v, want ErrNoRaftState", err)
	}
}

// A node seeded from a backup's store starts as a one-voter cluster with
// its objects, its claims and its index.
func TestSnapshotSeedRaft(t *testing.T) {
	a, _ := backupFixture(t, 5)
	n := &testNode{id: "restored", dir: t.TempDir()}
	if err := SeedRaft(n.dir, n.id, "127.0.0.1:1", a.s.Snapshot(), testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := SeedRaft(n.dir, n.id, "127.0.0.1:1", a.s.Snapshot(), testLogger(t)); err == nil {
		t.Fatal("a second seed over existing raft state: no error")
	}
	n.start(t, false)
	defer n.stop(t)
	eventually(t, "the seeded node leading", n.raft.IsLeader)
	if n.store.Index() != a.s.Index() {
		t.Fatalf("store index %d, want the backup's %d", n.store.Index(), a.s.Index())
	}
	if _, err := n.store.Get("pods", "default", "p004"); err != nil {
		t.Fatal(err)
	}
	if owner, ok := n.store.ClaimOwner("service-ip/10.43.0.10"); !ok || owner != "services/default/web" {
		t.Fatalf("claim held by %q (%v)", owner, ok)
	}
	obj, err := n.raft.Propose(testCtx(t), createCmd("default", "new", nil))
	if err != nil || obj.ResourceVersion <= a.s.Index() {
		t.Fatalf("write on the seeded node: %+v, %v; want a resourceVersion above %d", obj, err, a.s.Index())
	}
}
