package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/membership"
)

// After a recovery or a restore, the Node of a machine that never rejoins
// gossip is Ready from before; past the grace period it turns Unknown and
// unreachable (so its pods are evicted), and it is Ready again once the
// machine rejoins.
func TestRecoverNodeAbsentFromGossip(t *testing.T) {
	e := newTestEnv(t)
	e.Clock.Set(apitest.T0)
	gone := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone", Labels: map[string]string{controller.GossipStateLabel: "alive"}}}
	created, err := e.CS.CoreV1().Nodes().Create(e.Ctx, gone, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if _, err := e.CS.CoreV1().Nodes().UpdateStatus(e.Ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	members := &evMembers{}
	members.set("n1", membership.Alive)
	nl := &Controller{Deps: e.Deps, Members: members, LeaseGrace: 40 * time.Second}
	ready := func(name string) corev1.ConditionStatus {
		t.Helper()
		if c := readyCondition(&e.GetNode(name).Status); c != nil {
			return c.Status
		}
		return ""
	}
	for _, step := range []struct {
		name    string
		advance time.Duration
		rejoin  bool
		want    corev1.ConditionStatus
		taints  int
	}{
		{"first seen without a member", 0, false, corev1.ConditionTrue, 0},
		{"within the grace period", 40 * time.Second, false, corev1.ConditionTrue, 0},
		{"grace period over", time.Second, false, corev1.ConditionUnknown, 2},
		{"rejoined", time.Second, true, corev1.ConditionTrue, 0},
	} {
		e.Clock.Set(e.Clock.Now().Add(step.advance))
		if step.rejoin {
			members.set("gone", membership.Alive)
		}
		e.Synced()
		if err := nl.Reconcile(e.Ctx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := ready("gone"); got != step.want {
			t.Fatalf("%s: Ready %s, want %s", step.name, got, step.want)
		}
		if got := taintKeys(e.GetNode("gone")); len(got) != step.taints {
			t.Fatalf("%s: taints %v, want %d", step.name, got, step.taints)
		}
		if step.want == corev1.ConditionUnknown {
			n := e.GetNode("gone")
			if c := readyCondition(&n.Status); c.Reason != "NodeStatusUnknown" {
				t.Fatalf("%s: reason %q, want NodeStatusUnknown", step.name, c.Reason)
			}
			if n.Labels[controller.GossipStateLabel] != "absent" {
				t.Fatalf("%s: gossip label %q, want absent", step.name, n.Labels[controller.GossipStateLabel])
			}
		}
		if got := ready("n1"); got != corev1.ConditionTrue {
			t.Fatalf("%s: the member n1 Ready %s", step.name, got)
		}
	}
}
