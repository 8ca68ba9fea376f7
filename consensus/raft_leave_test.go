package consensus

import (
	"errors"
	"slices"
	"testing"
)

func serverIDs(t testing.TB, n *testNode) []string {
	t.Helper()
	servers, err := n.raft.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestRaftLeave: a follower removes itself through the leader (twice: the
// second is a no-op), the leader hands leadership over and then removes
// itself, and the last voter is refused.
func TestRaftLeave(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	leader := waitLeader(t, nodes)
	f := followers(nodes)[0]

	if err := f.raft.TransferLeadership(ctx); err != nil {
		t.Fatalf("transfer on a follower: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := f.raft.RemoveSelf(ctx); err != nil {
			t.Fatalf("remove %s (try %d): %v", f.id, i+1, err)
		}
	}
	if ids := serverIDs(t, leader); slices.Contains(ids, f.id) || len(ids) != 2 {
		t.Fatalf("after %s left the leader's configuration is %v", f.id, ids)
	}
	f.stop(t)

	if err := leader.raft.RemoveSelf(ctx); err == nil {
		t.Fatal("the leader removed itself without handing leadership over")
	}
	if err := leader.raft.TransferLeadership(ctx); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	var rest []*testNode
	for _, n := range nodes {
		if n != f {
			rest = append(rest, n)
		}
	}
	next := waitLeader(t, rest)
	if next == leader {
		t.Fatal("leadership stayed after a transfer")
	}
	if err := leader.raft.RemoveSelf(ctx); err != nil {
		t.Fatalf("old leader leaves: %v", err)
	}
	if ids := serverIDs(t, next); !slices.Equal(ids, []string{next.id}) {
		t.Fatalf("after two left the configuration is %v, want [%s]", ids, next.id)
	}
	leader.stop(t)

	// The one voter left can neither hand over nor be removed.
	if err := next.raft.TransferLeadership(ctx); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("transfer by the last voter: got %v, want ErrLastVoter", err)
	}
}
