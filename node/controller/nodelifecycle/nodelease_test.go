package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/membership"
)

// A node alive in gossip whose lease stops moving for the grace period
// turns Ready=Unknown (and gets the unreachable taint); a renewal makes it
// Ready again. A node without a lease is judged by gossip alone.
func TestNodeLeaseStaleness(t *testing.T) {
	e := newTestEnv(t)
	e.Clock.Set(apitest.T0)
	if _, err := e.CS.CoreV1().Namespaces().Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodeLeaseNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	members := &evMembers{}
	members.set("n1", membership.Alive)
	members.set("n2", membership.Alive) // no kubelet lease at all
	nl := &Controller{Deps: e.Deps, Members: members, LeaseGrace: 40 * time.Second}
	reconcile := func() {
		t.Helper()
		e.Synced()
		if err := nl.Reconcile(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string) corev1.ConditionStatus {
		t.Helper()
		c := readyCondition(&e.GetNode(name).Status)
		if c == nil {
			return ""
		}
		return c.Status
	}
	leases := e.CS.CoordinationV1().Leases(nodeLeaseNamespace)
	l, err := leases.Create(e.Ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n1"), LeaseDurationSeconds: ptr.To[int32](40)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renew := func() {
		t.Helper()
		now := metav1.NewMicroTime(e.Clock.Now())
		l.Spec.RenewTime = &now
		if l, err = leases.Update(e.Ctx, l, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	reconcile()
	for _, step := range []struct {
		name     string
		advance  time.Duration
		renew    bool
		want, n2 corev1.ConditionStatus
	}{
		{"lease seen", 0, false, corev1.ConditionTrue, corev1.ConditionTrue},
		{"within grace", 30 * time.Second, false, corev1.ConditionTrue, corev1.ConditionTrue},
		{"renewed in time", 5 * time.Second, true, corev1.ConditionTrue, corev1.ConditionTrue},
		{"still fresh from the renewal", 39 * time.Second, false, corev1.ConditionTrue, corev1.ConditionTrue},
		{"grace passed without renewal", 2 * time.Second, false, corev1.ConditionUnknown, corev1.ConditionTrue},
		{"renewed again", time.Second, true, corev1.ConditionTrue, corev1.ConditionTrue},
	} {
		e.Clock.Set(e.Clock.Now().Add(step.advance))
		if step.renew {
			renew()
		}
		reconcile()
		if got := ready("n1"); got != step.want {
			t.Fatalf("%s: n1 Ready %s, want %s", step.name, got, step.want)
		}
		if got := ready("n2"); got != step.n2 {
			t.Fatalf("%s: n2 (no lease) Ready %s, want %s", step.name, got, step.n2)
		}
		if step.want == corev1.ConditionUnknown {
			c := readyCondition(&e.GetNode("n1").Status)
			if c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
				t.Errorf("%s: condition %s/%q, want Kubernetes' NodeStatusUnknown", step.name, c.Reason, c.Message)
			}
			if got := taintKeys(e.GetNode("n1")); len(got) != 2 {
				t.Errorf("%s: taints %v, want unreachable NoSchedule and NoExecute", step.name, got)
			}
		}
	}
}
