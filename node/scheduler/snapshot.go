package scheduler

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Defaults kube-scheduler charges a pod that requests nothing, for scoring
// only (so that request-less pods still spread).
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 * 1024 * 1024
)

// resources are the amounts the scheduler counts: milli-cpu and bytes.
type resources struct {
	cpu, mem int64
}

func (r resources) add(o resources) resources { return resources{r.cpu + o.cpu, r.mem + o.mem} }

func (r resources) sub(o resources) resources { return resources{r.cpu - o.cpu, r.mem - o.mem} }

// hostPort is one host port a pod asks for.
type hostPort struct {
	proto corev1.Protocol
	ip    string // "0.0.0.0" for every address
	port  int32
}

// conflicts reports whether two host ports cannot both be bound.
func (h hostPort) conflicts(o hostPort) bool {
	return h.port == o.port && h.proto == o.proto && (h.ip == o.ip || h.ip == "0.0.0.0" || o.ip == "0.0.0.0")
}

// podInfo is what the scheduler derives from one cached pod. It is built
// once per change of the pod and never changed afterwards; pod is the
// shared cache's object, read only.
type podInfo struct {
	key      string // namespace/name
	pod      *corev1.Pod
	node     string // spec.nodeName
	terminal bool   // Succeeded or Failed: holds no resources
	deleting bool
	ours     bool // spec.schedulerName is this scheduler's
	priority int32

	req     resources // what the filters charge
	nonzero resources // what the scores charge
	ports   []hostPort
	owner   string // uid of the controller owner, "" if none

	// affinity is the node selector plus required node affinity; nil when
	// the pod has neither.
	affinity *nodeaffinity.RequiredNodeAffinity
}

func podInfoFor(pod *corev1.Pod, key, schedulerName string) *podInfo {
	p := &podInfo{
		key:      key,
		pod:      pod,
		node:     pod.Spec.NodeName,
		terminal: pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed,
		deleting: pod.DeletionTimestamp != nil,
		ours:     pod.Spec.SchedulerName == schedulerName || pod.Spec.SchedulerName == "",
	}
	if pod.Spec.Priority != nil {
		p.priority = *pod.Spec.Priority
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	p.req = resources{cpu: reqs.Cpu().MilliValue(), mem: reqs.Memory().Value()}
	p.nonzero = p.req
	if p.nonzero.cpu == 0 {
		p.nonzero.cpu = defaultMilliCPURequest
	}
	if p.nonzero.mem == 0 {
		p.nonzero.mem = defaultMemoryRequest
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort <= 0 {
				continue
			}
			hp := hostPort{proto: cp.Protocol, ip: cp.HostIP, port: cp.HostPort}
			if hp.proto == "" {
				hp.proto = corev1.ProtocolTCP
			}
			if hp.ip == "" || net.ParseIP(hp.ip).IsUnspecified() {
				hp.ip = "0.0.0.0"
			}
			p.ports = append(p.ports, hp)
		}
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			p.owner = string(ref.UID)
			break
		}
	}
	if len(pod.Spec.NodeSelector) > 0 || (pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil &&
		pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil) {
		a := nodeaffinity.GetRequiredNodeAffinity(pod)
		p.affinity = &a
	}
	return p
}

// holds reports whether the pod is charged to its node.
func (p *podInfo) holds() bool { return p.node != "" && !p.terminal }

// pending reports whether the pod waits for this scheduler.
func (p *podInfo) pending() bool { return p.node == "" && !p.deleting && !p.terminal && p.ours }

// scheduledCondition returns the pod's PodScheduled condition, or nil.
func (p *podInfo) scheduledCondition() *corev1.PodCondition {
	for i := range p.pod.Status.Conditions {
		if p.pod.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.pod.Status.Conditions[i]
		}
	}
	return nil
}

// nodeInfo is what the scheduler derives from one cached node; built once
// per change of the node. node is the shared cache's object, read only.
type nodeInfo struct {
	name          string
	node          *corev1.Node
	ready         bool
	unschedulable bool
	taints        []corev1.Taint // NoSchedule and NoExecute only
	alloc         resources
	allocPods     int64
}

func nodeInfoFor(node *corev1.Node) *nodeInfo {
	n := &nodeInfo{name: node.Name, node: node, unschedulable: node.Spec.Unschedulable}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			n.ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			n.taints = append(n.taints, t)
		}
	}
	a := node.Status.Allocatable
	n.alloc = resources{cpu: a.Cpu().MilliValue(), mem: a.Memory().Value()}
	n.allocPods = a.Pods().Value()
	return n
}

// nodeState is one node's usage during a pass: the cache's sums for the
// pods bound there, plus the pods the pass (and the binds in flight) put
// there.
type nodeState struct {
	*nodeInfo
	used    resources // requests of the pods on the node
	nonzero resources // the same with kube-scheduler's scoring defaults
	pods    int64
	ports   []hostPort       // capacity clipped: add never writes into the cache's array
	owners  map[string]int32 // pods per controller uid; the cache's, read only
	added   map[string]int32 // pods per controller uid the pass added
}

// add charges p to the node.
func (n *nodeState) add(p *podInfo) {
	n.used = n.used.add(p.req)
	n.nonzero = n.nonzero.add(p.nonzero)
	n.pods++
	n.ports = append(n.ports, p.ports...)
	if p.owner != "" {
		if n.added == nil {
			n.added = make(map[string]int32)
		}
		n.added[p.owner]++
	}
}

// ownerPods is how many pods of the controller uid the node holds.
func (n *nodeState) ownerPods(uid string) int32 { return n.owners[uid] + n.added[uid] }

// snapshot is the cluster as one pass sees it.
type snapshot struct {
	nodes []*nodeState   // by name
	index map[string]int // name -> position in nodes; the cache's, read only
	// The cache's generations when the snapshot was taken.
	nodeGen, freedGen uint64
}

// node returns the node name, or nil.
func (s *snapshot) node(name string) *nodeState {
	if i, ok := s.index[name]; ok {
		return s.nodes[i]
	}
	return nil
}
