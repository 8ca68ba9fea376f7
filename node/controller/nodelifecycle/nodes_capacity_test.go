package nodelifecycle

import (
	"testing"

	"github.com/shoal-project/shoal/node/membership"
)

// TestCapacityHasOneWriter: a worker's capacity is its kubelet's to write,
// so the controller leaves it empty (the scheduler waits for the kubelet's
// figures); a member that runs no kubelet gets gossip's figures from the
// controller, its only writer. Both get their addresses.
func TestCapacityHasOneWriter(t *testing.T) {
	e := newTestEnv(t)
	members := &roleMembers{roles: map[string][]string{}}
	members.set("worker", membership.RoleWorker)
	members.set("control", membership.RoleVoterEligible)
	nl := &Controller{Deps: e.Deps, Members: members}
	for range 2 { // the first pass registers, the second writes status
		e.Synced()
		if err := nl.Reconcile(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.GetNode("worker").Status.Capacity; len(got) != 0 {
		t.Errorf("worker: capacity %v written by the controller, want none (the kubelet's to write)", got)
	}
	control := e.GetNode("control").Status
	if cpu := control.Capacity.Cpu().MilliValue(); cpu != 4000 {
		t.Errorf("member without a kubelet: capacity cpu %dm, want 4000m from gossip", cpu)
	}
	if len(control.Allocatable) == 0 {
		t.Error("member without a kubelet: no allocatable")
	}
	for _, name := range []string{"worker", "control"} {
		if addrs := e.GetNode(name).Status.Addresses; len(addrs) == 0 || addrs[0].Address != "192.0.2.1" {
			t.Errorf("%s: addresses %v, want InternalIP 192.0.2.1 from gossip", name, addrs)
		}
	}
}

// TestVersionFollowsGossip: a member without a kubelet shows the version
// gossip carries, and shows the new one after an upgrade in place.
func TestVersionFollowsGossip(t *testing.T) {
	e := newTestEnv(t)
	members := &roleMembers{roles: map[string][]string{}}
	members.set("control", membership.RoleVoterEligible)
	members.setVersion("control", "v1.32.4-shoal")
	nl := &Controller{Deps: e.Deps, Members: members}
	reconcile := func() {
		t.Helper()
		for range 2 { // the first pass registers, the second writes status
			e.Synced()
			if err := nl.Reconcile(e.Ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	reconcile()
	if v := e.GetNode("control").Status.NodeInfo.KubeletVersion; v != "v1.32.4-shoal" {
		t.Fatalf("before the upgrade: version %q, want v1.32.4-shoal", v)
	}
	members.setVersion("control", "v0.2.0")
	reconcile()
	if n := e.GetNode("control"); n.Status.NodeInfo.KubeProxyVersion != "v0.2.0" || n.Status.NodeInfo.OperatingSystem != "linux" {
		t.Fatalf("after the upgrade: nodeInfo %+v, want kubeProxyVersion v0.2.0 and the rest kept", n.Status.NodeInfo)
	}
}
