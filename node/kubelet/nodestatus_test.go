package kubelet

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestNodeStatusOneWriterOfCapacity: the kubelet is the one writer of its
// node's capacity and allocatable. When another writer changes them, the
// kubelet writes the machine's again at its next read, though nothing
// changed on the machine.
func TestNodeStatusOneWriterOfCapacity(t *testing.T) {
	e := newLoopEnv(t)
	e.tune = func(tu *Tuning) { tu.NodeStatusUpdate = 20 * time.Millisecond }
	e.start()
	node := func() *corev1.Node {
		n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var want corev1.ResourceList
	e.eventually("the kubelet's capacity", func() (bool, string) {
		want = node().Status.Capacity
		return want.Pods().Value() == maxPods && !want.Memory().IsZero(), fmt.Sprint(want)
	})
	// Another writer (a controller guessing from gossip) sets its own.
	patch := `{"status":{"capacity":{"cpu":"1234","pods":"7"},"allocatable":{"cpu":"1234","pods":"7"}}}`
	if _, err := e.CS.CoreV1().Nodes().Patch(e.Ctx, testNode, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the kubelet's capacity and allocatable back", func() (bool, string) {
		st := node().Status
		for _, l := range []corev1.ResourceList{st.Capacity, st.Allocatable} {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourcePods} {
				if q, w := l[name], want[name]; q.Cmp(w) != 0 {
					return false, fmt.Sprintf("%s %s, want %s", name, q.String(), w.String())
				}
			}
		}
		return true, ""
	})
}

// TestNodeStatusWhenTheNodeAppears: the leader registers the Node after
// the kubelet started; the kubelet reports its status at once, not a
// NodeStatusUpdate period later.
func TestNodeStatusWhenTheNodeAppears(t *testing.T) {
	e := newLoopEnv(t)
	if err := e.CS.CoreV1().Nodes().Delete(e.Ctx, testNode, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.tune = func(tu *Tuning) { tu.NodeStatusUpdate = time.Hour }
	e.start()
	time.Sleep(50 * time.Millisecond) // the first read finds no Node
	if _, err := e.CS.CoreV1().Nodes().Create(e.Ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the kubelet's capacity", func() (bool, string) {
		n, err := e.CS.CoreV1().Nodes().Get(e.Ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return n.Status.Capacity.Pods().Value() == maxPods, fmt.Sprint(n.Status.Capacity)
	})
}

func TestResourcesDiffer(t *testing.T) {
	st := &corev1.NodeStatus{
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
	}
	node := func(cpuCap, cpuAlloc string, extra bool) *corev1.Node {
		n := &corev1.Node{Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuCap), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuAlloc), corev1.ResourcePods: resource.MustParse("110")},
		}}
		if extra {
			n.Status.Capacity["example.com/gpu"] = resource.MustParse("1")
		}
		return n
	}
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want bool
	}{
		{"no node yet", nil, false},
		{"same, other units", node("4000m", "4", false), false},
		{"a resource st does not name", node("4", "4", true), false},
		{"capacity changed", node("2", "4", false), true},
		{"allocatable changed", node("4", "3", false), true},
		{"a resource missing", &corev1.Node{Status: corev1.NodeStatus{Capacity: st.Capacity}}, true},
	} {
		if got := resourcesDiffer(tc.node, st); got != tc.want {
			t.Errorf("%s: resourcesDiffer = %v, want %v", tc.name, got, tc.want)
		}
	}
}
