package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/membership"
)

// TestNodeReadyHeartbeat: a Ready node's heartbeat moves once a minute when
// nothing changes, and the node is not written in between; when gossip
// says the node is dead, Ready and the kubelet's pressure conditions turn
// Unknown with their last heartbeats kept, and a pressure condition the
// kubelet never posted is added as never updated.
func TestNodeReadyHeartbeat(t *testing.T) {
	e := newTestEnv(t)
	e.Clock.Set(apitest.T0)
	members := &evMembers{}
	members.set("n1", membership.Alive)
	members.set("n2", membership.Alive)
	nl := &Controller{Deps: e.Deps, Members: members}
	reconcile := func() {
		t.Helper()
		e.Synced()
		if err := nl.Reconcile(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	reconcile() // the second pass adds the gossip labels
	created := e.GetNode("n1")
	ready := readyCondition(&created.Status)
	if ready == nil || ready.Status != corev1.ConditionTrue || !ready.LastHeartbeatTime.Time.Equal(apitest.T0) {
		t.Fatalf("Ready after registration: %+v, want True with heartbeat %s", ready, apitest.T0)
	}

	// The kubelet of n1 posts its pressure conditions; n2's never does.
	posted := metav1.NewTime(apitest.T0.Add(5 * time.Second))
	n1 := e.GetNode("n1")
	for _, typ := range kubeletConditions {
		n1.Status.Conditions = append(n1.Status.Conditions, corev1.NodeCondition{Type: typ, Status: corev1.ConditionFalse,
			Reason: "KubeletHasSufficient", Message: "fine", LastHeartbeatTime: posted, LastTransitionTime: posted})
	}
	if _, err := e.CS.CoreV1().Nodes().UpdateStatus(e.Ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := e.GetNode("n1").ResourceVersion

	e.Clock.Set(apitest.T0.Add(59 * time.Second))
	reconcile()
	n1 = e.GetNode("n1")
	if n1.ResourceVersion != before {
		t.Errorf("59s after the last heartbeat the node was written (resourceVersion %s -> %s)", before, n1.ResourceVersion)
	}
	e.Clock.Set(apitest.T0.Add(61 * time.Second))
	reconcile()
	n1 = e.GetNode("n1")
	ready = readyCondition(&n1.Status)
	if !ready.LastHeartbeatTime.Time.Equal(apitest.T0.Add(61*time.Second)) || !ready.LastTransitionTime.Time.Equal(apitest.T0) {
		t.Errorf("after a minute: heartbeat %s transition %s, want heartbeat %s and transition %s", ready.LastHeartbeatTime, ready.LastTransitionTime, apitest.T0.Add(61*time.Second), apitest.T0)
	}
	if c := nodeCondition(&n1.Status, corev1.NodeMemoryPressure); c == nil || !c.LastHeartbeatTime.Equal(&posted) {
		t.Errorf("the leader's heartbeat changed the kubelet's MemoryPressure: %+v", c)
	}

	dead := apitest.T0.Add(90 * time.Second)
	e.Clock.Set(dead)
	members.set("n1", membership.Dead)
	members.set("n2", membership.Dead)
	reconcile()
	n1 = e.GetNode("n1")
	ready = readyCondition(&n1.Status)
	if ready.Status != corev1.ConditionUnknown || !ready.LastHeartbeatTime.Time.Equal(apitest.T0.Add(61*time.Second)) || !ready.LastTransitionTime.Time.Equal(dead) {
		t.Errorf("dead: Ready %s heartbeat %s transition %s, want Unknown, the last heartbeat kept, transition %s", ready.Status, ready.LastHeartbeatTime, ready.LastTransitionTime, dead)
	}
	for _, typ := range kubeletConditions {
		c := nodeCondition(&n1.Status, typ)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." ||
			!c.LastHeartbeatTime.Equal(&posted) || !c.LastTransitionTime.Time.Equal(dead) {
			t.Errorf("dead: %s = %+v, want Unknown NodeStatusUnknown with the kubelet's heartbeat kept", typ, c)
		}
	}
	n2 := e.GetNode("n2")
	for _, typ := range kubeletConditions {
		c := nodeCondition(&n2.Status, typ)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusNeverUpdated" || c.Message != "Kubelet never posted node status." {
			t.Errorf("dead, never posted: %s = %+v, want Unknown NodeStatusNeverUpdated", typ, c)
		}
	}

	// Dead nodes are not written again while nothing changes.
	before = e.GetNode("n1").ResourceVersion
	e.Clock.Set(dead.Add(5 * time.Minute))
	reconcile()
	if rv := e.GetNode("n1").ResourceVersion; rv != before {
		t.Errorf("a dead node was written again (resourceVersion %s -> %s)", before, rv)
	}
}
