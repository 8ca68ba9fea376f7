package scheduler

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// testNode builds a Ready node with cpu (e.g. "2"), memory (e.g. "4Gi")
// and room for pods pods; opts adjust it.
func testNode(name, cpu, mem string, pods int64, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	n.Status.Capacity = n.Status.Allocatable.DeepCopy()
	for _, o := range opts {
		o(n)
	}
	return n
}

// testPod builds a pod whose one container requests cpu and mem ("" for
// none); opts adjust it.
func testPod(name, cpu, mem string, opts ...func(*corev1.Pod)) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			SchedulerName: corev1.DefaultSchedulerName,
			Containers:    []corev1.Container{{Name: "c", Image: "img", Resources: corev1.ResourceRequirements{Requests: req}}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withLabels(kv ...string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withToleration(t corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func withHostPort(port int32, proto corev1.Protocol, ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: port, Protocol: proto, HostIP: ip})
	}
}

func withAffinity(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func notReady(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }

// state builds node's usage with the pods already bound to it.
func state(node *corev1.Node, bound ...*corev1.Pod) *nodeState {
	n := &nodeState{nodeInfo: nodeInfoFor(node)}
	for _, p := range bound {
		if pi := podInfoFor(p, p.Namespace+"/"+p.Name, corev1.DefaultSchedulerName); !pi.terminal {
			n.add(pi)
		}
	}
	return n
}

func TestFilter(t *testing.T) {
	node := func(opts ...func(*corev1.Node)) *corev1.Node { return testNode("n1", "2", "4Gi", 110, opts...) }
	tests := []struct {
		name  string
		node  *corev1.Node
		bound []*corev1.Pod
		pod   *corev1.Pod
		want  []string
	}{
		{name: "fits", node: node(), pod: testPod("p", "1", "1Gi")},
		{name: "no requests fit anywhere", node: node(), pod: testPod("p", "", "")},
		{name: "exactly full", node: node(), bound: []*corev1.Pod{testPod("a", "1", "3Gi")}, pod: testPod("p", "1", "1Gi")},
		{name: "cpu", node: node(), bound: []*corev1.Pod{testPod("a", "1500m", "")}, pod: testPod("p", "600m", ""), want: []string{reasonCPU}},
		{name: "memory", node: node(), pod: testPod("p", "", "5Gi"), want: []string{reasonMemory}},
		{name: "cpu and memory", node: node(), pod: testPod("p", "3", "5Gi"), want: []string{reasonCPU, reasonMemory}},
		{name: "too many pods", node: testNode("n1", "2", "4Gi", 1), bound: []*corev1.Pod{testPod("a", "", "")}, pod: testPod("p", "", ""), want: []string{reasonTooManyPods}},
		{name: "init container max", node: node(), pod: testPod("p", "1", "", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "img", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2500m")}}}}
		}), want: []string{reasonCPU}},
		{name: "containers summed", node: node(), pod: testPod("p", "1", "", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", Image: "img", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1001m")}}})
		}), want: []string{reasonCPU}},
		{name: "terminated pods free their requests", node: node(), bound: []*corev1.Pod{testPod("a", "2", "", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })}, pod: testPod("p", "2", "")},

		{name: "not ready", node: node(notReady), pod: testPod("p", "", ""), want: []string{reasonNotReady}},
		{name: "no ready condition", node: node(func(n *corev1.Node) { n.Status.Conditions = nil }), pod: testPod("p", "", ""), want: []string{reasonNotReady}},
		{name: "unschedulable", node: node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), pod: testPod("p", "", ""), want: []string{reasonUnschedulable}},
		{name: "unschedulable tolerated", node: node(func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			pod: testPod("p", "", "", withToleration(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))},

		{name: "node selector matches", node: node(withLabels("disk", "ssd")), pod: testPod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })},
		{name: "node selector differs", node: node(withLabels("disk", "hdd")), pod: testPod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), want: []string{reasonAffinity}},
		{name: "affinity In", node: node(withLabels("zone", "a")), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b")))},
		{name: "affinity In misses", node: node(withLabels("zone", "c")), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), want: []string{reasonAffinity}},
		{name: "affinity NotIn", node: node(withLabels("zone", "a")), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), want: []string{reasonAffinity}},
		{name: "affinity NotIn without label", node: node(), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a")))},
		{name: "affinity Exists", node: node(withLabels("gpu", "")), pod: testPod("p", "", "", withAffinity(expr("gpu", corev1.NodeSelectorOpExists)))},
		{name: "affinity Exists misses", node: node(), pod: testPod("p", "", "", withAffinity(expr("gpu", corev1.NodeSelectorOpExists))), want: []string{reasonAffinity}},
		{name: "affinity DoesNotExist", node: node(withLabels("gpu", "1")), pod: testPod("p", "", "", withAffinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))), want: []string{reasonAffinity}},
		{name: "affinity Gt", node: node(withLabels("cores", "16")), pod: testPod("p", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpGt, "8")))},
		{name: "affinity Gt misses", node: node(withLabels("cores", "4")), pod: testPod("p", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpGt, "8"))), want: []string{reasonAffinity}},
		{name: "affinity Lt", node: node(withLabels("cores", "4")), pod: testPod("p", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpLt, "8")))},
		{name: "affinity terms are ORed", node: node(withLabels("zone", "b")), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpIn, "a"), expr("zone", corev1.NodeSelectorOpIn, "b")))},
		{name: "affinity matchFields name", node: node(), pod: testPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}))},
		{name: "affinity matchFields other name", node: node(), pod: testPod("p", "", "", withAffinity(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}}})), want: []string{reasonAffinity}},
		{name: "selector and affinity both needed", node: node(withLabels("zone", "a")), pod: testPod("p", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpIn, "a")),
			func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), want: []string{reasonAffinity}},

		{name: "NoSchedule taint", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), pod: testPod("p", "", ""),
			want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "NoExecute taint", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoExecute)), pod: testPod("p", "", ""),
			want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "PreferNoSchedule ignored", node: node(withTaint("dedicated", "db", corev1.TaintEffectPreferNoSchedule)), pod: testPod("p", "", "")},
		{name: "Equal toleration", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod: testPod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}))},
		{name: "Equal toleration other value", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod:  testPod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Value: "web"})),
			want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "Exists toleration any effect", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoExecute)),
			pod: testPod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}))},
		{name: "toleration for another effect", node: node(withTaint("dedicated", "db", corev1.TaintEffectNoExecute)),
			pod:  testPod("p", "", "", withToleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})),
			want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "empty key Exists tolerates all", node: node(withTaint("a", "1", corev1.TaintEffectNoSchedule), withTaint("b", "", corev1.TaintEffectNoExecute)),
			pod: testPod("p", "", "", withToleration(corev1.Toleration{Operator: corev1.TolerationOpExists}))},
		{name: "first untolerated taint named", node: node(withTaint("a", "1", corev1.TaintEffectNoSchedule), withTaint("b", "", corev1.TaintEffectNoSchedule)),
			pod:  testPod("p", "", "", withToleration(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists})),
			want: []string{"node(s) had untolerated taint {b: }"}},

		{name: "host port free", node: node(), bound: []*corev1.Pod{testPod("a", "", "", withHostPort(8080, "", ""))}, pod: testPod("p", "", "", withHostPort(8081, "", ""))},
		{name: "host port taken", node: node(), bound: []*corev1.Pod{testPod("a", "", "", withHostPort(8080, "", ""))}, pod: testPod("p", "", "", withHostPort(8080, corev1.ProtocolTCP, "")), want: []string{reasonPorts}},
		{name: "host port other protocol", node: node(), bound: []*corev1.Pod{testPod("a", "", "", withHostPort(53, corev1.ProtocolTCP, ""))}, pod: testPod("p", "", "", withHostPort(53, corev1.ProtocolUDP, ""))},
		{name: "host port other address", node: node(), bound: []*corev1.Pod{testPod("a", "", "", withHostPort(80, "", "10.0.0.1"))}, pod: testPod("p", "", "", withHostPort(80, "", "10.0.0.2"))},
		{name: "host port wildcard address", node: node(), bound: []*corev1.Pod{testPod("a", "", "", withHostPort(80, "", "10.0.0.1"))}, pod: testPod("p", "", "", withHostPort(80, "", "0.0.0.0")), want: []string{reasonPorts}},

		{name: "not ready wins over resources", node: node(notReady), pod: testPod("p", "9", "9Gi"), want: []string{reasonNotReady}},
		{name: "taint before selector", node: node(withTaint("k", "v", corev1.TaintEffectNoSchedule)), pod: testPod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"x": "y"} }),
			want: []string{"node(s) had untolerated taint {k: v}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := state(tt.node, tt.bound...)
			p := podInfoFor(tt.pod, "default/"+tt.pod.Name, corev1.DefaultSchedulerName)
			if got := filter(p, n); !slices.Equal(got, tt.want) {
				t.Errorf("filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPending(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"unbound", testPod("p", "", ""), true},
		{"no scheduler name", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.SchedulerName = "" }), true},
		{"other scheduler", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.SchedulerName = "custom" }), false},
		{"bound", testPod("p", "", "", func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), false},
		{"being deleted", testPod("p", "", "", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }), false},
		{"failed", testPod("p", "", "", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), false},
	}
	for _, tt := range tests {
		if got := podInfoFor(tt.pod, "default/p", corev1.DefaultSchedulerName).pending(); got != tt.want {
			t.Errorf("%s: pending = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDiagnosisMessage(t *testing.T) {
	tests := []struct {
		name    string
		nodes   int
		reasons [][]string
		want    string
	}{
		{"no nodes", 0, nil, "no nodes available to schedule pods"},
		{"one reason", 3, [][]string{{reasonMemory}, {reasonMemory}, {reasonMemory}}, "0/3 nodes are available: 3 Insufficient memory."},
		{"sorted and counted", 5, [][]string{{reasonUnschedulable}, {reasonCPU, reasonMemory}, {reasonCPU}, {"node(s) had untolerated taint {k: v}"}, {reasonAffinity}},
			"0/5 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {k: v}, 1 node(s) were unschedulable, 2 Insufficient cpu."},
	}
	for _, tt := range tests {
		d := diagnosis{nodes: tt.nodes}
		for _, r := range tt.reasons {
			d.add(r)
		}
		if got := d.message(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
