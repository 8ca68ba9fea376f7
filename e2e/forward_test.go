package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestWriteThroughFollowerWhileLeaderUnplugged: a write sent to a follower
// while the leader's cable is out ends (taken by the new leader, or refused
// with its outcome unknown) soon after the cluster elects another leader.
// The follower used to wait on its forwarded call to the old leader until
// the cable came back.
func TestWriteThroughFollowerWhileLeaderUnplugged(t *testing.T) {
	l := newCPLab(t, 3)
	as := l.startCluster(3)
	nodes, err := l.nodes(as[0])
	if err != nil {
		t.Fatal(err)
	}
	leader, follower := -1, -1
	for i, a := range as {
		for _, n := range nodes {
			if n.Name == a.name && roleOf(n) == "leader" {
				leader = i
			}
		}
	}
	if leader < 0 {
		t.Fatalf("no leader among %s", describeNodes(nodes))
	}
	follower = (leader + 1) % 3
	f := as[follower]
	l.clientNS = f.ns // the CLI keeps its cable
	// A first write opens the follower's forwarding connection to the leader.
	if out, err := l.applyYAML(f, "warm", configMaps("fwd", "warm", 1)); err != nil {
		t.Fatalf("write through %s: %v\n%s", f.name, err, out)
	}

	veth := fmt.Sprintf("se%s%d", l.lab.id, leader)
	l.lab.in(l.lab.hub, "ip", "link", "set", veth, "down")
	const cut = 20 * time.Second
	plugged := time.AfterFunc(cut, func() { l.lab.run(l.lab.hub, "ip", "link", "set", veth, "up") })
	defer func() {
		if plugged.Stop() {
			l.lab.run(l.lab.hub, "ip", "link", "set", veth, "up")
		}
	}()

	type result struct {
		out string
		err error
		at  time.Duration
	}
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		out, err := l.applyYAML(f, "cut", configMaps("fwd", "during-cut", 1))
		done <- result{out, err, time.Since(start)}
	}()
	select {
	case r := <-done:
		t.Logf("the write through %s ended after %s: err=%v\n%s", f.name, r.at.Round(time.Millisecond), r.err, r.out)
	case <-time.After(cut - 5*time.Second):
		t.Fatalf("a write through follower %s was still waiting %s after the leader %s was unplugged (the cable returns at %s)",
			f.name, cut-5*time.Second, as[leader].name, cut)
	}
	// And writes work through the follower while the old leader is out.
	waitFor(t, 10*time.Second, "a write through "+f.name+" with the old leader unplugged", func() error {
		_, err := l.applyYAML(f, "after", configMaps("fwd", "after-cut", 1))
		return err
	})
}
