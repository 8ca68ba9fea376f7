package consensus

import (
	"errors"
	"testing"
)

// A forwarded command with a field the leader does not know is refused,
// not applied without it: a newer follower's command would silently
// become another one.
func TestForwardRejectsUnknownFields(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	leader := waitLeader(t, nodes)
	f := followers(nodes)[0]
	ctx := testCtx(t)
	for name, body := range map[string]map[string]any{
		"unknown field": {"op": 1, "resource": "configmaps", "namespace": "ns", "name": "a", "object": map[string]any{}, "fromTheFuture": true},
		"unknown op":    {"op": 4, "resource": "configmaps", "namespace": "ns", "name": "a", "object": map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := f.raft.fwd.call(ctx, leader.addr, "/apply", body)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.err(); !errors.Is(err, ErrInvalid) || resp.Index != 0 {
				t.Fatalf("forwarded %s: index %d, error %v; want ErrInvalid and nothing applied", name, resp.Index, err)
			}
		})
	}
	if _, err := leader.store.Get("configmaps", "ns", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused command was applied: %v", err)
	}
}
