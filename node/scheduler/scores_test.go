package scheduler

import (
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func ownedBy(uid string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID("rs-" + uid), Controller: ptr.To(true)}}
	}
}

func info(p *corev1.Pod) *podInfo {
	return podInfoFor(p, p.Namespace+"/"+p.Name, corev1.DefaultSchedulerName)
}

func TestScores(t *testing.T) {
	empty := testNode("n", "4", "8Gi", 110)
	tests := []struct {
		name                      string
		node                      *nodeState
		pod                       *corev1.Pod
		maxCount                  int32
		least, balance, spreading int64
	}{
		{name: "empty node, half of it", node: state(empty), pod: testPod("p", "2", "4Gi"), least: 50, balance: 100, spreading: 100},
		{name: "no requests count the defaults", node: state(empty), pod: testPod("p", "", ""),
			// cpu 100m of 4: 97; memory 200Mi of 8Gi: 97.
			least: 97, balance: 99, spreading: 100},
		{name: "unbalanced", node: state(empty), pod: testPod("p", "4", "1Gi"), least: (0 + 87) / 2, balance: 56, spreading: 100},
		{name: "overfull scores zero", node: state(empty, testPod("a", "4", "8Gi")), pod: testPod("p", "1", "1Gi"), least: 0, balance: 100, spreading: 100},
		// The pods there request nothing: they count as 100m and 200Mi.
		{name: "spread: none of ours here", node: state(empty, testPod("a", "", "", ownedBy("x"))), pod: testPod("p", "1", "1Gi", ownedBy("y")), maxCount: 2,
			least: 78, balance: 93, spreading: 100},
		{name: "spread: half the max", node: state(empty, testPod("a", "", "", ownedBy("y"))), pod: testPod("p", "1", "1Gi", ownedBy("y")), maxCount: 2,
			least: 78, balance: 93, spreading: 50},
		{name: "spread: the max", node: state(empty, testPod("a", "", "", ownedBy("y"))), pod: testPod("p", "1", "1Gi", ownedBy("y")), maxCount: 1,
			least: 78, balance: 93, spreading: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := info(tt.pod)
			if got := leastAllocated(p, tt.node); got != tt.least {
				t.Errorf("leastAllocated = %d, want %d", got, tt.least)
			}
			if got := balanced(p, tt.node); got != tt.balance {
				t.Errorf("balanced = %d, want %d", got, tt.balance)
			}
			if got := spread(p, tt.node, tt.maxCount); got != tt.spreading {
				t.Errorf("spread = %d, want %d", got, tt.spreading)
			}
		})
	}
}

func TestSelectHost(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	big := testNode("big", "8", "16Gi", 110)
	small := testNode("small", "2", "4Gi", 110)
	tests := []struct {
		name  string
		nodes []*nodeState
		pod   *corev1.Pod
		want  string
	}{
		{name: "most room", nodes: []*nodeState{state(small), state(big)}, pod: testPod("p", "1", "1Gi"), want: "big"},
		{name: "least used", nodes: []*nodeState{state(testNode("a", "4", "8Gi", 110), testPod("x", "2", "4Gi")), state(testNode("b", "4", "8Gi", 110))}, pod: testPod("p", "1", "1Gi"), want: "b"},
		{name: "spread beats room", nodes: []*nodeState{
			state(testNode("a", "4", "8Gi", 110), testPod("x", "", "", ownedBy("rs"))),
			state(testNode("b", "4", "8Gi", 110), testPod("y", "1", "2Gi")),
		}, pod: testPod("p", "", "", ownedBy("rs")), want: "b"},
	}
	for _, tt := range tests {
		if got := selectHost(info(tt.pod), tt.nodes, rnd); got.name != tt.want {
			t.Errorf("%s: selectHost = %s, want %s", tt.name, got.name, tt.want)
		}
	}
}

func TestSelectHostTiesAreSpread(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	nodes := []*nodeState{state(testNode("a", "4", "8Gi", 110)), state(testNode("b", "4", "8Gi", 110)), state(testNode("c", "4", "8Gi", 110))}
	seen := map[string]int{}
	for range 300 {
		seen[selectHost(info(testPod("p", "", "")), nodes, rnd).name]++
	}
	for _, n := range nodes {
		if seen[n.name] < 50 {
			t.Errorf("ties picked %v: want each node often", seen)
		}
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct{ all, pct, want int }{
		{3, 0, 3},
		{99, 0, 99},
		{200, 0, 100},   // 48% of 200 is 96: at least 100
		{1000, 0, 420},  // 50 - 8 = 42%
		{5000, 0, 500},  // 50 - 40 = 10%
		{10000, 0, 500}, // floor at 5%
		{1000, 100, 1000},
		{1000, 30, 300},
	}
	for _, tt := range tests {
		if got := numFeasibleNodesToFind(tt.all, tt.pct); got != tt.want {
			t.Errorf("numFeasibleNodesToFind(%d, %d) = %d, want %d", tt.all, tt.pct, got, tt.want)
		}
	}
}
