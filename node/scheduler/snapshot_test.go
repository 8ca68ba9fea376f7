package scheduler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/follow"
)

// followCache returns a cache fed by the env's shared followers, as Run
// feeds its own.
func (e *env) followCache() *cache {
	e.TB.Helper()
	c := newCache(corev1.DefaultSchedulerName)
	pods := follow.For[corev1.Pod](e.Cache, "pods")
	nodes := follow.For[corev1.Node](e.Cache, "nodes")
	e.TB.Cleanup(pods.AddHandler(c.podHandler(func() {})))
	e.TB.Cleanup(nodes.AddHandler(c.nodeHandler(func() {})))
	return c
}

// cacheHas waits until the cache holds nodes nodes and pods pods.
func (e *env) cacheHas(c *cache, nodes, pods int) {
	e.TB.Helper()
	e.Eventually(10*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.nodes) != nodes || len(c.pods) != pods {
			return fmt.Errorf("cache has %d nodes, %d pods; want %d, %d", len(c.nodes), len(c.pods), nodes, pods)
		}
		return nil
	})
}

// TestCacheAndSnapshot checks what a pass charges to each node, and the
// generations that make unschedulable pods due again.
func TestCacheAndSnapshot(t *testing.T) {
	e := newEnv(t)
	e.readyNode("n1", "4", "8Gi")
	e.readyNode("n2", "4", "8Gi")
	on := func(node string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
	e.pod("running", "1", "1Gi", on("n1"), withHostPort(80, "", ""), ownedBy("rs"))
	done := e.pod("done", "2", "2Gi", on("n1"))
	done.Status.Phase = corev1.PodSucceeded
	if _, err := e.CS.CoreV1().Pods("default").UpdateStatus(e.Ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.pod("elsewhere", "1", "1Gi", on("gone"))
	e.pod("pending", "500m", "512Mi", ownedBy("rs"))

	c := e.followCache()
	e.cacheHas(c, 2, 4)
	e.Eventually(10*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if p := c.pods["default/done"]; p == nil || !p.terminal {
			return fmt.Errorf("done pod not seen Succeeded")
		}
		return nil
	})
	c.mu.Lock()
	pending := c.pods["default/pending"]
	if !pending.pending() || pending.req != (resources{cpu: 500, mem: 512 << 20}) {
		t.Fatalf("pending pod info = %+v", pending)
	}
	snap := c.snapshotLocked(func(yield func(*podInfo, string)) { yield(pending, "n2") })
	nodeGen, freedGen := c.nodeGen, c.freedGen
	c.mu.Unlock()
	n1, n2 := snap.node("n1"), snap.node("n2")
	if n1.used != (resources{cpu: 1000, mem: 1 << 30}) || n1.pods != 1 || len(n1.ports) != 1 || n1.ownerPods("rs-rs") != 1 {
		t.Errorf("n1 charged %+v, %d pods, ports %v, owners %v; want the running pod only", n1.used, n1.pods, n1.ports, n1.owners)
	}
	if n2.used != pending.req || n2.pods != 1 || n2.ownerPods("rs-rs") != 1 {
		t.Errorf("n2 charged %+v, %d pods; want the assumed pod", n2.used, n2.pods)
	}
	// What a pass adds to its snapshot stays in it.
	n1.add(pending)
	c.mu.Lock()
	again := c.snapshotLocked(func(func(*podInfo, string)) {})
	c.mu.Unlock()
	if a := again.node("n1"); a.pods != 1 || len(a.ports) != 1 || a.ownerPods("rs-rs") != 1 {
		t.Errorf("a pass's add leaked into the cache: n1 has %d pods, ports %v, %d of rs", a.pods, a.ports, a.ownerPods("rs-rs"))
	}

	// A pod that held resources goes away: freedGen moves, n1 is empty.
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "running", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	// One that held none does not.
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "done", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.cacheHas(c, 2, 2)
	c.mu.Lock()
	if c.freedGen != freedGen+1 || c.nodeGen != nodeGen {
		t.Errorf("after deleting a running pod: freedGen %d -> %d, nodeGen %d -> %d; want +1, unchanged", freedGen, c.freedGen, nodeGen, c.nodeGen)
	}
	if u := c.usage["n1"]; u != nil {
		t.Errorf("n1 still charged %+v", u)
	}
	c.mu.Unlock()
	// A node changes: nodeGen moves.
	n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, "n2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["disk"] = "ssd"
	if _, err := e.CS.CoreV1().Nodes().Update(e.Ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.nodeGen != nodeGen+1 {
			return fmt.Errorf("after a node update nodeGen %d -> %d, want +1", nodeGen, c.nodeGen)
		}
		return nil
	})
}
