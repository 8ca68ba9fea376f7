package scheduler

import (
	"cmp"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// cache is what the scheduler derives from the node's shared pods and
// nodes: a podInfo and nodeInfo per object, and per node the sums of the
// pods bound there (kube-scheduler's NodeInfo). The followers' handlers
// keep it, one change at a time, so a pass copies a node's sums instead of
// walking every pod, and decodes nothing (the followers decoded once).
type cache struct {
	schedulerName string

	mu       sync.Mutex
	pods     map[string]*podInfo  // by namespace/name
	nodes    map[string]*nodeInfo // by name
	nodeList []*nodeInfo          // by name; nil once a node changed
	nodeIdx  map[string]int       // name -> position in nodeList; replaced with it
	usage    map[string]*usage    // by node name (nodes that are gone too)

	// nodeGen counts changes to the set of nodes or to any node; freedGen
	// counts pods that stopped holding resources on a node. A pod found
	// unschedulable is only worth another try once one of them moved.
	nodeGen, freedGen uint64
}

// usage sums the pods holding resources on one node. Snapshots share
// ports and owners without a lock, so the cache replaces them on every
// change and never writes into them.
type usage struct {
	used, nonzero resources
	pods          int64
	ports         []hostPort
	owners        map[string]int32 // pods per controller uid
}

func newCache(schedulerName string) *cache {
	return &cache{
		schedulerName: schedulerName,
		pods:          make(map[string]*podInfo),
		nodes:         make(map[string]*nodeInfo),
		usage:         make(map[string]*usage),
	}
}

// podHandler keeps the cache's pods and calls changed after each change.
func (c *cache) podHandler(changed func()) follow.Handler[corev1.Pod] {
	return follow.Handler[corev1.Pod]{
		Add:    func(p *corev1.Pod) { c.setPod(p); changed() },
		Update: func(_, p *corev1.Pod) { c.setPod(p); changed() },
		Delete: func(p *corev1.Pod) { c.deletePod(follow.Key(p.Namespace, p.Name)); changed() },
	}
}

// nodeHandler keeps the cache's nodes and calls changed after each change.
func (c *cache) nodeHandler(changed func()) follow.Handler[corev1.Node] {
	return follow.Handler[corev1.Node]{
		Add:    func(n *corev1.Node) { c.setNode(n); changed() },
		Update: func(_, n *corev1.Node) { c.setNode(n); changed() },
		Delete: func(n *corev1.Node) { c.deleteNode(n.Name); changed() },
	}
}

// setPod puts the current state of pod into the cache.
func (c *cache) setPod(pod *corev1.Pod) {
	key := follow.Key(pod.Namespace, pod.Name)
	p := podInfoFor(pod, key, c.schedulerName) // outside the lock: a pass may wait on it
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.pods[key]; old != nil && old.holds() {
		c.unchargeLocked(old)
		if !p.holds() || p.node != old.node {
			c.freedGen++
		}
	}
	if p.holds() {
		c.chargeLocked(p)
	}
	c.pods[key] = p
}

func (c *cache) deletePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.pods[key]; old != nil && old.holds() {
		c.unchargeLocked(old)
		c.freedGen++
	}
	delete(c.pods, key)
}

func (c *cache) setNode(node *corev1.Node) {
	n := nodeInfoFor(node)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[n.name] = n
	c.nodeList = nil
	c.nodeGen++
}

func (c *cache) deleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, name)
	c.nodeList = nil
	c.nodeGen++
}

// chargeLocked adds p to its node's sums. c.mu is held.
func (c *cache) chargeLocked(p *podInfo) {
	u := c.usage[p.node]
	if u == nil {
		u = &usage{}
		c.usage[p.node] = u
	}
	u.used = u.used.add(p.req)
	u.nonzero = u.nonzero.add(p.nonzero)
	u.pods++
	if len(p.ports) > 0 {
		u.ports = append(slices.Clip(u.ports), p.ports...) // a new array
	}
	if p.owner != "" {
		owners := maps.Clone(u.owners)
		if owners == nil {
			owners = make(map[string]int32, 1)
		}
		owners[p.owner]++
		u.owners = owners
	}
}

// unchargeLocked takes p, charged before, off its node's sums. c.mu is
// held.
func (c *cache) unchargeLocked(p *podInfo) {
	u := c.usage[p.node]
	if u == nil {
		return
	}
	if u.pods <= 1 {
		delete(c.usage, p.node)
		return
	}
	u.used = u.used.sub(p.req)
	u.nonzero = u.nonzero.sub(p.nonzero)
	u.pods--
	if len(p.ports) > 0 {
		ports := make([]hostPort, 0, len(u.ports))
		gone := slices.Clone(p.ports)
		for _, hp := range u.ports {
			if i := slices.Index(gone, hp); i >= 0 {
				gone = slices.Delete(gone, i, i+1)
				continue
			}
			ports = append(ports, hp)
		}
		u.ports = ports
	}
	if p.owner != "" {
		owners := maps.Clone(u.owners)
		if owners[p.owner]--; owners[p.owner] <= 0 {
			delete(owners, p.owner)
		}
		u.owners = owners
	}
}

// snapshotLocked returns the cluster as a pass sees it: every node with
// the sums of its pods, plus each assumed pod on the node chosen for it.
// c.mu is held.
func (c *cache) snapshotLocked(assumed func(yield func(p *podInfo, node string))) *snapshot {
	if c.nodeList == nil {
		c.nodeList = slices.SortedFunc(maps.Values(c.nodes), func(a, b *nodeInfo) int {
			return cmp.Compare(a.name, b.name)
		})
		// A new map, not cleared: snapshots taken before hold the old one.
		c.nodeIdx = make(map[string]int, len(c.nodeList))
		for i, n := range c.nodeList {
			c.nodeIdx[n.name] = i
		}
	}
	s := &snapshot{
		nodes:   make([]*nodeState, len(c.nodeList)),
		index:   c.nodeIdx,
		nodeGen: c.nodeGen, freedGen: c.freedGen,
	}
	states := make([]nodeState, len(c.nodeList))
	for i, n := range c.nodeList {
		st := &states[i]
		st.nodeInfo = n
		if u := c.usage[n.name]; u != nil {
			st.used, st.nonzero, st.pods = u.used, u.nonzero, u.pods
			st.ports, st.owners = slices.Clip(u.ports), u.owners
		}
		s.nodes[i] = st
	}
	assumed(func(p *podInfo, node string) {
		if n := s.node(node); n != nil {
			n.add(p)
		}
	})
	return s
}
