package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestCacheAndSnapshot checks what a pass charges to each node, and the
// generations that make unschedulable pods due again.
func TestCacheAndSnapshot(t *testing.T) {
	e := newEnv(t)
	e.readyNode("n1", "4", "8Gi")
	e.readyNode("n2", "4", "8Gi")
	on := func(node string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
	e.pod("running", "1", "1Gi", on("n1"), withHostPort(80, "", ""))
	done := e.pod("done", "2", "2Gi", on("n1"))
	done.Status.Phase = corev1.PodSucceeded
	if _, err := e.cs.CoreV1().Pods("default").UpdateStatus(e.ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.pod("elsewhere", "1", "1Gi", on("gone"))
	e.pod("pending", "500m", "512Mi")

	c := newCache(corev1.DefaultSchedulerName)
	if err := c.sync(e.store); err != nil {
		t.Fatal(err)
	}
	if len(c.nodeList) != 2 || len(c.pods) != 4 {
		t.Fatalf("cache has %d nodes, %d pods; want 2, 4", len(c.nodeList), len(c.pods))
	}
	pending := c.pods["default/pending"]
	if !pending.pending() || pending.req != (resources{cpu: 500, mem: 512 << 20}) {
		t.Fatalf("pending pod info = %+v", pending)
	}
	snap := newSnapshot(c, func(yield func(*podInfo, string)) { yield(pending, "n2") })
	n1, n2 := snap.byName["n1"], snap.byName["n2"]
	if n1.used != (resources{cpu: 1000, mem: 1 << 30}) || n1.pods != 1 || len(n1.ports) != 1 {
		t.Errorf("n1 charged %+v, %d pods, ports %v; want the running pod only", n1.used, n1.pods, n1.ports)
	}
	if n2.used != pending.req || n2.pods != 1 {
		t.Errorf("n2 charged %+v, %d pods; want the assumed pod", n2.used, n2.pods)
	}

	// Nothing changed: nothing moves, nothing is decoded again.
	nodeGen, freedGen := c.nodeGen, c.freedGen
	if err := c.sync(e.store); err != nil {
		t.Fatal(err)
	}
	if c.nodeGen != nodeGen || c.freedGen != freedGen || c.pods["default/pending"] != pending {
		t.Errorf("a sync without changes moved the generations or decoded again")
	}
	// A pod that held resources goes away: freedGen moves.
	if err := e.cs.CoreV1().Pods("default").Delete(e.ctx, "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	// One that held none does not.
	if err := e.cs.CoreV1().Pods("default").Delete(e.ctx, "done", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(e.store); err != nil {
		t.Fatal(err)
	}
	if c.freedGen != freedGen+1 || c.nodeGen != nodeGen {
		t.Errorf("after deleting a running pod: freedGen %d -> %d, nodeGen %d -> %d; want +1, unchanged", freedGen, c.freedGen, nodeGen, c.nodeGen)
	}
	// A node changes: nodeGen moves.
	n, err := e.cs.CoreV1().Nodes().Get(e.ctx, "n2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["disk"] = "ssd"
	if _, err := e.cs.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(e.store); err != nil {
		t.Fatal(err)
	}
	if c.nodeGen != nodeGen+1 {
		t.Errorf("after a node update nodeGen %d -> %d, want +1", nodeGen, c.nodeGen)
	}
}
