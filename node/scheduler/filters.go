package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The reasons a node is not feasible, in kube-scheduler's words. They are
// counted over the nodes into the Unschedulable message.
const (
	reasonNotReady      = "node(s) not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
	reasonCPU           = "Insufficient cpu"
	reasonMemory        = "Insufficient memory"
)

// Single-reason answers, shared so that a failing node costs no allocation.
// Callers must not modify them.
var (
	failNotReady      = []string{reasonNotReady}
	failUnschedulable = []string{reasonUnschedulable}
	failAffinity      = []string{reasonAffinity}
	failPorts         = []string{reasonPorts}
)

// taintUnschedulable is the taint a pod tolerates to land on a node with
// spec.unschedulable (DaemonSet pods do).
var taintUnschedulable = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// filter returns nil when pod p fits node n as the pass sees it, or the
// reasons it does not. As in kube-scheduler, the checks run in order and
// the first that fails decides, except that the resource check reports
// every resource that is short.
func filter(p *podInfo, n *nodeState) []string {
	if !n.ready {
		return failNotReady
	}
	tols := p.pod.Spec.Tolerations
	if n.unschedulable && !tolerates(tols, &taintUnschedulable) {
		return failUnschedulable
	}
	for i := range n.taints {
		if t := &n.taints[i]; !tolerates(tols, t) {
			return []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)}
		}
	}
	if p.affinity != nil {
		if ok, err := p.affinity.Match(n.node); !ok || err != nil {
			return failAffinity
		}
	}
	if portsConflict(p.ports, n.ports) {
		return failPorts
	}
	return fits(p, n)
}

// fits is kube-scheduler's NodeResourcesFit: the pod count, then cpu and
// memory requests against what is allocatable and not yet requested.
func fits(p *podInfo, n *nodeState) []string {
	var reasons []string
	if n.pods+1 > n.allocPods {
		reasons = append(reasons, reasonTooManyPods)
	}
	if p.req.cpu > 0 && p.req.cpu > n.alloc.cpu-n.used.cpu {
		reasons = append(reasons, reasonCPU)
	}
	if p.req.mem > 0 && p.req.mem > n.alloc.mem-n.used.mem {
		reasons = append(reasons, reasonMemory)
	}
	return reasons
}

// tolerates is Toleration.ToleratesTaint over a list: an empty effect
// matches every effect, an empty key with Exists matches every taint,
// Exists matches any value and Equal (or no operator) needs the value.
func tolerates(tols []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tols {
		tol := &tols[i]
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key != "" && tol.Key != t.Key {
			continue
		}
		switch tol.Operator {
		case "", corev1.TolerationOpEqual:
			if tol.Value == t.Value {
				return true
			}
		case corev1.TolerationOpExists:
			return true
		}
	}
	return false
}

// portsConflict reports whether any wanted host port is taken.
func portsConflict(want, used []hostPort) bool {
	for _, w := range want {
		for _, u := range used {
			if w.conflicts(u) {
				return true
			}
		}
	}
	return false
}

// diagnosis counts, per reason, the nodes that rejected a pod.
type diagnosis struct {
	nodes   int
	reasons map[string]int
}

func (d *diagnosis) add(reasons []string) {
	if d.reasons == nil {
		d.reasons = make(map[string]int)
	}
	for _, r := range reasons {
		d.reasons[r]++
	}
}

// message is kube-scheduler's FitError text:
// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable."
func (d *diagnosis) message() string {
	if d.nodes == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(d.reasons))
	for r, n := range d.reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", d.nodes, strings.Join(parts, ", "))
}
