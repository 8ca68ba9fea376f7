package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/shoal-project/shoal/consensus"
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

// podInfo is what the scheduler derives from one stored pod. It is built
// once per resourceVersion and never changed afterwards.
type podInfo struct {
	key      string // namespace/name
	rv       uint64
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

func newPodInfo(o *consensus.Object, schedulerName string) (*podInfo, error) {
	pod := &corev1.Pod{}
	if err := json.Unmarshal(o.Raw, pod); err != nil {
		return nil, fmt.Errorf("decode pod %s/%s: %w", o.Namespace, o.Name, err)
	}
	return podInfoFor(pod, o.Namespace+"/"+o.Name, o.ResourceVersion, schedulerName), nil
}

func podInfoFor(pod *corev1.Pod, key string, rv uint64, schedulerName string) *podInfo {
	p := &podInfo{
		key:      key,
		rv:       rv,
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

// nodeInfo is what the scheduler derives from one stored node; built once
// per resourceVersion.
type nodeInfo struct {
	name          string
	rv            uint64
	node          *corev1.Node
	ready         bool
	unschedulable bool
	taints        []corev1.Taint // NoSchedule and NoExecute only
	alloc         resources
	allocPods     int64
}

func newNodeInfo(o *consensus.Object) (*nodeInfo, error) {
	node := &corev1.Node{}
	if err := json.Unmarshal(o.Raw, node); err != nil {
		return nil, fmt.Errorf("decode node %s: %w", o.Name, err)
	}
	return nodeInfoFor(node, o.ResourceVersion), nil
}

func nodeInfoFor(node *corev1.Node, rv uint64) *nodeInfo {
	n := &nodeInfo{name: node.Name, rv: rv, node: node, unschedulable: node.Spec.Unschedulable}
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

// cache holds the decoded pods and nodes, refreshed from the store on
// every pass: objects whose resourceVersion did not change are not decoded
// again, so a pass costs a list of the store plus the changes.
type cache struct {
	schedulerName string
	nodes         map[string]*nodeInfo
	nodeList      []*nodeInfo // by name
	pods          map[string]*podInfo

	// nodeGen counts changes to the set of nodes or to any node; freedGen
	// counts pods that stopped holding resources on a node. A pod found
	// unschedulable is only worth another try once one of them moved.
	nodeGen, freedGen uint64
}

func newCache(schedulerName string) *cache {
	return &cache{schedulerName: schedulerName, nodes: map[string]*nodeInfo{}, pods: map[string]*podInfo{}}
}

// sync brings the cache up to the store's current state. Objects that fail
// to decode are skipped (and reported).
func (c *cache) sync(store *consensus.Store) error {
	var errs []error
	nodes, _, _ := store.List("nodes", "", "", 0)
	changed := len(nodes) != len(c.nodes)
	list := make([]*nodeInfo, 0, len(nodes))
	seen := make(map[string]*nodeInfo, len(nodes))
	for _, o := range nodes {
		n := c.nodes[o.Name]
		if n == nil || n.rv != o.ResourceVersion {
			var err error
			if n, err = newNodeInfo(o); err != nil {
				errs = append(errs, err)
				continue
			}
			changed = true
		}
		seen[o.Name] = n
		list = append(list, n)
	}
	if changed || len(seen) != len(c.nodes) {
		c.nodeGen++
	}
	c.nodes, c.nodeList = seen, list

	pods, _, _ := store.List("pods", "", "", 0)
	next := make(map[string]*podInfo, len(pods))
	for _, o := range pods {
		key := o.Namespace + "/" + o.Name
		p := c.pods[key]
		if p == nil || p.rv != o.ResourceVersion {
			np, err := newPodInfo(o, c.schedulerName)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if p != nil && p.holds() && (!np.holds() || np.node != p.node) {
				c.freedGen++
			}
			p = np
		}
		next[key] = p
	}
	for key, p := range c.pods {
		if _, ok := next[key]; !ok && p.holds() {
			c.freedGen++
		}
	}
	c.pods = next
	return errors.Join(errs...)
}

// nodeState is one node's usage during a pass.
type nodeState struct {
	*nodeInfo
	used    resources // requests of the pods on the node
	nonzero resources // the same with kube-scheduler's scoring defaults
	pods    int64
	ports   []hostPort
	owners  map[string]int32 // pods per controller uid
}

// add charges p to the node.
func (n *nodeState) add(p *podInfo) {
	n.used = n.used.add(p.req)
	n.nonzero = n.nonzero.add(p.nonzero)
	n.pods++
	n.ports = append(n.ports, p.ports...)
	if p.owner != "" {
		if n.owners == nil {
			n.owners = make(map[string]int32)
		}
		n.owners[p.owner]++
	}
}

// snapshot is the cluster as one pass sees it.
type snapshot struct {
	nodes  []*nodeState // by name
	byName map[string]*nodeState
}

// newSnapshot charges every pod holding resources to its node, and every
// assumed pod to the node chosen for it.
func newSnapshot(c *cache, assumed func(yield func(p *podInfo, node string))) *snapshot {
	s := &snapshot{nodes: make([]*nodeState, len(c.nodeList)), byName: make(map[string]*nodeState, len(c.nodeList))}
	states := make([]nodeState, len(c.nodeList))
	for i, n := range c.nodeList {
		states[i].nodeInfo = n
		s.nodes[i] = &states[i]
		s.byName[n.name] = &states[i]
	}
	for _, p := range c.pods {
		if !p.holds() {
			continue
		}
		if n := s.byName[p.node]; n != nil {
			n.add(p)
		}
	}
	assumed(func(p *podInfo, node string) {
		if n := s.byName[node]; n != nil {
			n.add(p)
		}
	})
	return s
}
