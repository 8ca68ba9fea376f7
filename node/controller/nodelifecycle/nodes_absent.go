package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/controller"
)

// Nodes that gossip has never seen. Gossip forgets nothing while it runs,
// but it starts empty: after the whole cluster restarts, is recovered from
// one survivor (`shoal recover`) or is restored from a snapshot, the Node
// objects of machines that never come back belong to no member at all.
// Kubernetes' node lifecycle controller marks a node whose kubelet stops
// posting Unknown after its grace period, whatever the reason; so does this
// one, for a Node without a member for longer than LeaseGrace, and the
// unreachable taint then lets the eviction controller delete its pods.

// absentGossipLabel is the shoal.io/gossip label of such a node.
const absentGossipLabel = "absent"

// absentWatch remembers since when each Node has had no gossip member.
type absentWatch struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// absentFor notes that node has no member at now and says for how long it
// has had none.
func (w *absentWatch) absentFor(node string, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since == nil {
		w.since = map[string]time.Time{}
	}
	first, ok := w.since[node]
	if !ok {
		w.since[node] = now
		return 0
	}
	return now.Sub(first)
}

// forgetExcept drops every node not in keep.
func (w *absentWatch) forgetExcept(keep map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name := range w.since {
		if !keep[name] {
			delete(w.since, name)
		}
	}
}

// reconcileAbsent marks the Nodes without a gossip member, once absent for
// longer than the grace period, Ready=Unknown and unreachable.
func (c *Controller) reconcileAbsent(ctx context.Context, members map[string]bool) error {
	grace := c.LeaseGrace
	if grace <= 0 {
		grace = DefaultNodeLeaseGrace
	}
	now := c.CurrentTime()
	nodes, _ := c.followers()
	c.awaitOwnWrites(ctx, nodes)
	absent := map[string]bool{}
	var errs []error
	for _, node := range nodes.List() {
		if members[node.Name] {
			continue
		}
		absent[node.Name] = true
		if c.absent.absentFor(node.Name, now) <= grace {
			continue
		}
		if err := c.markAbsent(ctx, node.DeepCopy(), now); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", node.Name, err))
		}
	}
	c.absent.forgetExcept(absent)
	return errors.Join(errs...)
}

// markAbsent makes an absent node's Ready condition Unknown, its taints
// unreachable and its gossip label "absent".
func (c *Controller) markAbsent(ctx context.Context, node *corev1.Node, now time.Time) error {
	want := node.DeepCopy()
	stamp := metav1.NewTime(now.Truncate(time.Second))
	setReady(&want.Status, corev1.ConditionUnknown, "NodeStatusUnknown",
		"Kubelet stopped posting node status: the node has not rejoined the cluster's gossip.", stamp, math.MaxInt64)
	if nodeCondition(&want.Status, corev1.NodeMemoryPressure) != nil { // a kubelet posted
		markKubeletConditionsUnknown(want, stamp)
	}
	updated := node
	if !equality.Semantic.DeepEqual(want.Status, node.Status) {
		body, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": want.Status.Conditions}})
		if err != nil {
			return err
		}
		updated, err = c.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("update status: %w", err)
		}
		c.wrote.Note(updated.ResourceVersion)
		c.Logger.Info("node absent from gossip", "name", node.Name)
		c.recordReadyChange(node, updated)
	}
	if err := c.updateTaints(ctx, updated); err != nil {
		return err
	}
	if updated.Labels[controller.GossipStateLabel] == absentGossipLabel {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{controller.GossipStateLabel: absentGossipLabel}}})
	if err != nil {
		return err
	}
	patched, err := c.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return err
	}
	c.wrote.Note(patched.ResourceVersion)
	return nil
}
