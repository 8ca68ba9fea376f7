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
