package scheduler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

// events lists the events about pod name with reason.
func (e *env) events(name, reason string) []corev1.Event {
	e.TB.Helper()
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
	l, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		e.TB.Fatalf("list events: %v", err)
	}
	return l.Items
}

func TestScheduler(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		e.readyNode(n, "4", "8Gi")
	}
	e.start(WithResync(time.Second), WithSeed(1))

	// Six pods of one ReplicaSet spread two per node.
	var names []string
	for i := range 6 {
		names = append(names, fmt.Sprintf("web-%d", i))
		e.pod(names[i], "100m", "128Mi", ownedBy("web"))
	}
	e.Eventually(10*time.Second, func() error {
		for _, n := range names {
			if err := e.bound(n); err != nil {
				return err
			}
		}
		return nil
	})
	perNode := map[string]int{}
	for _, n := range names {
		perNode[e.GetPod(n).Spec.NodeName]++
	}
	if len(perNode) != 3 || perNode["node-a"] != 2 || perNode["node-b"] != 2 || perNode["node-c"] != 2 {
		t.Errorf("pods per node = %v, want 2 on each of 3 nodes", perNode)
	}
	e.Eventually(10*time.Second, func() error {
		p := e.GetPod("web-0")
		evs := e.events("web-0", "Scheduled")
		if len(evs) != 1 {
			return fmt.Errorf("%d Scheduled events for web-0, want 1", len(evs))
		}
		ev := evs[0]
		want := "Successfully assigned default/web-0 to " + p.Spec.NodeName
		if ev.Type != corev1.EventTypeNormal || ev.Message != want || ev.Source.Component != "default-scheduler" ||
			ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.UID != p.UID {
			return fmt.Errorf("Scheduled event = %+v, want Normal %q from default-scheduler about the pod", ev, want)
		}
		return nil
	})

	// A pod asking for more memory than any node has stays Pending.
	e.pod("huge", "", "64Gi")
	const msg = "0/3 nodes are available: 3 Insufficient memory."
	e.Eventually(10*time.Second, func() error {
		p := e.GetPod("huge")
		c := podScheduled(p)
		if p.Spec.NodeName != "" || c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != msg {
			return fmt.Errorf("huge: nodeName %q, PodScheduled %+v; want unbound, False/Unschedulable %q", p.Spec.NodeName, c, msg)
		}
		evs := e.events("huge", "FailedScheduling")
		if len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning || evs[0].Message != msg || evs[0].Source.Component != "default-scheduler" {
			return fmt.Errorf("FailedScheduling events = %+v, want one Warning %q", evs, msg)
		}
		return nil
	})
	// Other changes retry it, but the verdict is not written again.
	rv := e.GetPod("huge").ResourceVersion
	e.pod("small", "", "")
	e.Eventually(10*time.Second, func() error { return e.bound("small") })
	if got := e.GetPod("huge").ResourceVersion; got != rv {
		t.Errorf("huge was written again (resourceVersion %s -> %s) with an unchanged verdict", rv, got)
	}
	if n := len(e.events("huge", "FailedScheduling")); n != 1 {
		t.Errorf("%d FailedScheduling events, want 1", n)
	}

	// A node big enough takes it.
	e.readyNode("node-big", "8", "128Gi")
	e.Eventually(10*time.Second, func() error { return e.bound("huge") })
	if n := e.GetPod("huge").Spec.NodeName; n != "node-big" {
		t.Errorf("huge bound to %s, want node-big", n)
	}
}

// TestNoOvercommit creates more pods than fit, all at once: binds run
// concurrently, yet no node takes more than it has.
func TestNoOvercommit(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		e.readyNode(n, "2", "8Gi")
	}
	for i := range 7 {
		e.pod(fmt.Sprintf("p-%d", i), "1", "")
	}
	e.start(WithSeed(2))
	const msg = "0/3 nodes are available: 3 Insufficient cpu."
	e.Eventually(10*time.Second, func() error {
		perNode := map[string]int{}
		var unsched []string
		for i := range 7 {
			p := e.GetPod(fmt.Sprintf("p-%d", i))
			c := podScheduled(p)
			switch {
			case p.Spec.NodeName != "" && c != nil && c.Status == corev1.ConditionTrue:
				perNode[p.Spec.NodeName]++
			case p.Spec.NodeName == "" && c != nil && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg:
				unsched = append(unsched, p.Name)
			default:
				return fmt.Errorf("pod %s not settled: node %q, %+v", p.Name, p.Spec.NodeName, c)
			}
		}
		if len(unsched) != 1 || perNode["node-a"] != 2 || perNode["node-b"] != 2 || perNode["node-c"] != 2 {
			return fmt.Errorf("per node %v, unschedulable %v: want 2 per node and 1 unschedulable", perNode, unsched)
		}
		// The newest pod is the one left over.
		if unsched[0] != "p-6" {
			return fmt.Errorf("unschedulable %v, want p-6 (pods go oldest first)", unsched)
		}
		return nil
	})
	// Deleting a bound pod frees room for the one left over.
	// (Grace period 0: the API removes a bound pod at once.)
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, "p-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error { return e.bound("p-6") })
}

// TestFilteredNodes checks the placement rules end to end: a selector, a
// taint and a cordoned node steer pods; the message names each reason.
func TestFilteredNodes(t *testing.T) {
	e := newEnv(t)
	e.readyNode("plain", "4", "8Gi")
	ssd := testNode("ssd", "4", "8Gi", 110, withLabels("disk", "ssd"))
	tainted := testNode("gpu", "4", "8Gi", 110, withTaint("gpu", "true", corev1.TaintEffectNoSchedule))
	cordoned := testNode("cordoned", "4", "8Gi", 110, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	down := testNode("down", "4", "8Gi", 110, notReady)
	for _, n := range []*corev1.Node{ssd, tainted, cordoned, down} {
		if _, err := e.CS.CoreV1().Nodes().Create(e.Ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	e.pod("wants-ssd", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	e.pod("wants-gpu", "", "", withAffinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist)),
		func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "gpu"} },
		withToleration(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists}))
	e.pod("wants-nvme", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "nvme"} })
	e.Eventually(10*time.Second, func() error { return e.bound("wants-ssd") })
	if n := e.GetPod("wants-ssd").Spec.NodeName; n != "ssd" {
		t.Errorf("wants-ssd on %s, want ssd", n)
	}
	e.Eventually(10*time.Second, func() error { return e.bound("wants-gpu") })
	if n := e.GetPod("wants-gpu").Spec.NodeName; n != "gpu" {
		t.Errorf("wants-gpu on %s, want gpu", n)
	}
	const msg = "0/5 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 1 node(s) not ready, 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector."
	e.Eventually(10*time.Second, func() error {
		c := podScheduled(e.GetPod("wants-nvme"))
		if c == nil || c.Message != msg {
			return fmt.Errorf("wants-nvme PodScheduled %+v, want message %q", c, msg)
		}
		return nil
	})
}

// TestBindingSubresource: a bind is one POST pods/NAME/binding, after which
// the API server's copy of the pod is bound with PodScheduled=True (set by
// the API server, as kube-apiserver does), and one Scheduled event exists.
func TestBindingSubresource(t *testing.T) {
	e := newEnv(t)
	e.readyNode("node-a", "1", "1Gi")
	e.start()
	e.pod("a", "1", "")
	e.pod("b", "1", "")
	e.Eventually(10*time.Second, func() error {
		if err := e.bound("a"); err != nil {
			return err
		}
		c := podScheduled(e.GetPod("b"))
		if c == nil || c.Message != "0/1 nodes are available: 1 Insufficient cpu." {
			return fmt.Errorf("b: PodScheduled %+v, want Insufficient cpu", c)
		}
		if n := len(e.events("a", "Scheduled")); n != 1 {
			return fmt.Errorf("%d Scheduled events for a, want 1", n)
		}
		return nil
	})
}
