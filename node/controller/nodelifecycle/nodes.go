package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/node/membership"
)

// Members is the gossip view the node lifecycle controller follows.
type Members interface {
	Members() []membership.Member
	Subscribe() (<-chan struct{}, func())
}

// Controller keeps a Node object for every gossip member, with its
// Ready condition following gossip: Alive is Ready=True, Suspect keeps the
// last answer, Dead and Left are Ready=Unknown; a Node that has had no
// member for LeaseGrace (a machine that never came back after the cluster
// restarted, was recovered or was restored) is Ready=Unknown too.
type Controller struct {
	controller.Deps
	Members Members
	// Resync is how often a full pass runs without events; 0 means 5s.
	Resync time.Duration
	// ClusterCIDR is split into one /24 pod CIDR per node (default
	// controller.DefaultClusterCIDR).
	ClusterCIDR string
	// RaftRoles names each member's raft role (leader, voter, non-voter);
	// nil leaves the role label alone.
	RaftRoles func() map[string]string
	// LeaseGrace is how long a node's lease may stand still before its
	// Ready condition turns Unknown (0: DefaultNodeLeaseGrace).
	LeaseGrace time.Duration
	// Heartbeat is how often a Ready node's Ready heartbeat moves when
	// nothing changes (0: DefaultNodeHeartbeat).
	Heartbeat time.Duration

	leases leaseWatch
	absent absentWatch
	// wrote is the newest Node this controller wrote: a pass waits for
	// the cache to hold it, so it never writes (or records) a change twice.
	wrote controller.OwnWrites

	// rec records NodeReady and NodeNotReady; set by Run (nil: no events).
	rec record.EventRecorder
}

// Run reconciles until ctx is cancelled.
func (c *Controller) Run(ctx context.Context) error {
	rec, stopRec := controller.NewRecorder(c.Deps, "node-controller")
	defer stopRec()
	c.rec = rec
	changes, cancel := c.Members.Subscribe()
	defer cancel()
	resync := c.Resync
	if resync == 0 {
		resync = 5 * time.Second
	}
	return controller.Loop(ctx, controller.LoopConfig{
		Name:      "node lifecycle",
		Logger:    c.Logger,
		Wake:      changes,
		Resync:    resync,
		Reconcile: c.Reconcile,
	})
}

// Reconcile makes one pass over the members.
func (c *Controller) Reconcile(ctx context.Context) error {
	nodes, leases := c.followers()
	if !follow.WaitReady(ctx, nodes, leases) {
		return ctx.Err()
	}
	var errs []error
	members := map[string]bool{}
	for _, m := range c.Members.Members() {
		members[m.Name] = true
		if err := c.reconcileMember(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", m.Name, err))
		}
	}
	if err := c.reconcileAbsent(ctx, members); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// followers are the node's caches of Nodes and their leases.
func (c *Controller) followers() (*follow.Follower[corev1.Node], *follow.Follower[coordinationv1.Lease]) {
	return follow.For[corev1.Node](c.Cache, "nodes"), follow.For[coordinationv1.Lease](c.Cache, nodeLeaseResource)
}

// awaitOwnWrites waits until the cache of nodes holds this controller's
// last write.
func (c *Controller) awaitOwnWrites(ctx context.Context, nodes *follow.Follower[corev1.Node]) {
	controller.AwaitCache(ctx, func() bool { return c.wrote.SeenBy(nodes.ResourceVersion()) })
}

func (c *Controller) reconcileMember(ctx context.Context, m membership.Member) error {
	nodes, _ := c.followers()
	c.awaitOwnWrites(ctx, nodes)
	cached, ok := nodes.Get("", m.Name)
	if !ok {
		if m.State != membership.Alive {
			return nil
		}
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: m.Name, Labels: nodeLabels(m)}}
		if !m.HasRole(membership.RoleWorker) {
			// A member that runs no pods takes part in the control plane
			// only; the scheduler keeps pods off it, as off a Kubernetes
			// control-plane node.
			node.Labels[controller.ControlPlaneRole] = ""
			node.Spec.Taints = []corev1.Taint{{Key: controller.ControlPlaneRole, Effect: corev1.TaintEffectNoSchedule}}
		}
		cluster := c.ClusterCIDR
		if cluster == "" {
			cluster = controller.DefaultClusterCIDR
		}
		// Only the leader runs this loop, one member at a time, so the
		// lowest free /24 cannot be handed out twice.
		cidr, err := nextPodCIDR(cluster, c.takenPodCIDRs())
		if err != nil {
			return err
		}
		node.Spec.PodCIDR, node.Spec.PodCIDRs = cidr, []string{cidr}
		created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		c.wrote.Note(created.ResourceVersion)
		c.Logger.Info("node registered", "name", m.Name)
		updated, err := c.updateStatus(ctx, created, m)
		if err != nil {
			return err
		}
		return c.updateTaints(ctx, updated)
	}
	node := cached.DeepCopy()
	updated, err := c.updateStatus(ctx, node, m)
	if err != nil {
		return err
	}
	if err := c.updateTaints(ctx, updated); err != nil {
		return err
	}
	return c.updateRoleLabels(ctx, node, m)
}

// updateRoleLabels keeps the gossip-state, raft-role and ingress labels
// current.
func (c *Controller) updateRoleLabels(ctx context.Context, node *corev1.Node, m membership.Member) error {
	want := map[string]string{controller.GossipStateLabel: strings.ToLower(m.State.String())}
	if c.RaftRoles != nil {
		role := c.RaftRoles()[m.Name]
		if role == "" {
			role = "none"
		}
		want[controller.RaftRoleLabel] = role
	}
	changed := map[string]any{}
	for k, v := range want {
		if node.Labels[k] != v {
			changed[k] = v
		}
	}
	if m.HasRole(membership.RoleIngress) {
		if node.Labels[controller.IngressLabel] != controller.IngressServing {
			changed[controller.IngressLabel] = controller.IngressServing
		}
	} else if _, ok := node.Labels[controller.IngressLabel]; ok {
		changed[controller.IngressLabel] = nil // a merge patch's null removes it
	}
	if len(changed) == 0 {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": changed}})
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

// updateStatus writes the part of the status gossip implies, when it
// changed, as a strategic merge patch: the Ready condition always, and the
// addresses gossip knows while the node's own kubelet has not reported. A
// worker's capacity is the kubelet's alone to write (as in Kubernetes);
// gossip's figures stand in only for a member that runs no kubelet. It
// returns the node as stored afterwards.
func (c *Controller) updateStatus(ctx context.Context, node *corev1.Node, m membership.Member) (*corev1.Node, error) {
	want := node.DeepCopy()
	c.desiredStatus(want, m)
	if equality.Semantic.DeepEqual(want.Status, node.Status) {
		return node, nil
	}
	// Only the conditions this pass changed: the kubelet writes its own
	// (the pressure conditions) meanwhile, and a strategic merge patch
	// merges conditions by type.
	var changed []corev1.NodeCondition
	for _, c := range want.Status.Conditions {
		if old := nodeCondition(&node.Status, c.Type); old == nil || !equality.Semantic.DeepEqual(*old, c) {
			changed = append(changed, c)
		}
	}
	patch := map[string]any{"conditions": changed}
	if len(node.Status.Capacity) == 0 {
		if len(want.Status.Capacity) > 0 {
			patch["capacity"] = want.Status.Capacity
			patch["allocatable"] = want.Status.Allocatable
		}
		patch["addresses"] = want.Status.Addresses
		patch["nodeInfo"] = want.Status.NodeInfo
	} else if v := want.Status.NodeInfo.KubeletVersion; v != node.Status.NodeInfo.KubeletVersion {
		patch["nodeInfo"] = map[string]string{"kubeletVersion": v, "kubeProxyVersion": want.Status.NodeInfo.KubeProxyVersion}
	}
	body, err := json.Marshal(map[string]any{"status": patch})
	if err != nil {
		return nil, err
	}
	updated, err := c.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return nil, fmt.Errorf("update status: %w", err)
	}
	c.wrote.Note(updated.ResourceVersion)
	c.recordReadyChange(node, updated)
	return updated, nil
}

func (c *Controller) desiredStatus(node *corev1.Node, m membership.Member) {
	st := &node.Status
	if len(st.Capacity) == 0 {
		if !m.HasRole(membership.RoleWorker) {
			st.Capacity = corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(m.Meta.CPU, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(m.Meta.MemoryBytes, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
			}
			st.Allocatable = st.Capacity.DeepCopy()
		}
		host, _, _ := net.SplitHostPort(m.Meta.APIAddr)
		st.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}, {Type: corev1.NodeHostName, Address: m.Name}}
		st.NodeInfo.KubeletVersion = m.Meta.Version
		st.NodeInfo.KubeProxyVersion = m.Meta.Version
		st.NodeInfo.OperatingSystem = "linux"
		st.NodeInfo.Architecture = "amd64"
	}
	// A member upgraded in place publishes its new version; without a
	// kubelet (which reports its own) gossip is its only reporter, and
	// the VERSION of `shoal get nodes` must follow an upgrade.
	if !m.HasRole(membership.RoleWorker) && m.Meta.Version != "" {
		st.NodeInfo.KubeletVersion = m.Meta.Version
		st.NodeInfo.KubeProxyVersion = m.Meta.Version
	}
	status, reason, message := corev1.ConditionTrue, "KubeletReady", "shoal agent is ready; gossip reports it alive"
	grace := c.LeaseGrace
	if grace <= 0 {
		grace = DefaultNodeLeaseGrace
	}
	switch m.State {
	case membership.Alive:
		_, leases := c.followers()
		if m.HasRole(membership.RoleWorker) && c.leases.stale(leases, node.Name, c.CurrentTime(), grace) {
			status, reason, message = corev1.ConditionUnknown, "NodeStatusUnknown", kubeletStopped
		}
	case membership.Suspect:
		if cur := readyCondition(st); cur != nil {
			status, reason, message = cur.Status, cur.Reason, cur.Message
		}
	case membership.Dead:
		status, reason, message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status: gossip reports the node dead."
	case membership.Left:
		status, reason, message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status: the node left the cluster."
	}
	now := metav1.NewTime(c.CurrentTime().Truncate(time.Second))
	heartbeat := c.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultNodeHeartbeat
	}
	if m.State != membership.Alive {
		heartbeat = math.MaxInt64 // the node is not heard from: its heartbeat stays
	}
	setReady(st, status, reason, message, now, heartbeat)
	if status == corev1.ConditionUnknown && m.HasRole(membership.RoleWorker) {
		markKubeletConditionsUnknown(node, now)
	}
}

func readyCondition(st *corev1.NodeStatus) *corev1.NodeCondition {
	return nodeCondition(st, corev1.NodeReady)
}

func nodeLabels(m membership.Member) map[string]string {
	return map[string]string{
		"kubernetes.io/hostname": m.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"beta.kubernetes.io/os":  "linux",
	}
}

// recordReadyChange records NodeNotReady or NodeReady on the node when
// its Ready condition left True or came back to it, as Kubernetes' node
// lifecycle controller does.
func (c *Controller) recordReadyChange(before, after *corev1.Node) {
	if c.rec == nil {
		return
	}
	was, now := readyCondition(&before.Status), readyCondition(&after.Status)
	if was == nil || now == nil || (was.Status == corev1.ConditionTrue) == (now.Status == corev1.ConditionTrue) {
		return
	}
	status := "NodeNotReady"
	if now.Status == corev1.ConditionTrue {
		status = "NodeReady"
	}
	// Kubernetes refers to nodes in events with their name as uid.
	ref := &corev1.ObjectReference{Kind: "Node", Name: after.Name, UID: types.UID(after.Name)}
	c.rec.Eventf(ref, corev1.EventTypeNormal, status, "Node %s status is now: %s", after.Name, status)
}

// readinessTaints are the taints Kubernetes' node lifecycle controller
// puts on a node whose Ready condition is False (not-ready) or Unknown
// (unreachable): NoSchedule keeps new pods off it, NoExecute makes the
// eviction controller delete its pods after the eviction timeout.
func readinessTaints(ready corev1.ConditionStatus) []corev1.Taint {
	key := ""
	switch ready {
	case corev1.ConditionFalse:
		key = corev1.TaintNodeNotReady
	case corev1.ConditionUnknown:
		key = corev1.TaintNodeUnreachable
	default:
		return nil
	}
	return []corev1.Taint{{Key: key, Effect: corev1.TaintEffectNoSchedule}, {Key: key, Effect: corev1.TaintEffectNoExecute}}
}

func isReadinessTaint(t *corev1.Taint) bool {
	return (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) &&
		(t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute)
}

// withReadinessTaints returns taints with the readiness taints made to
// follow ready: the ones it wants kept as they are (with their
// timeAdded), the others removed, the missing ones added (NoExecute with
// timeAdded now). Other taints are left alone.
func withReadinessTaints(taints []corev1.Taint, ready corev1.ConditionStatus, now time.Time) []corev1.Taint {
	want := readinessTaints(ready)
	var out []corev1.Taint
	for _, t := range taints {
		if !isReadinessTaint(&t) || slices.ContainsFunc(want, func(w corev1.Taint) bool { return w.MatchTaint(&t) }) {
			out = append(out, t)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(out, func(t corev1.Taint) bool { return w.MatchTaint(&t) }) {
			if w.Effect == corev1.TaintEffectNoExecute {
				w.TimeAdded = ptr.To(metav1.NewTime(now.Truncate(time.Second)))
			}
			out = append(out, w)
		}
	}
	return out
}

// updateTaints makes the node's readiness taints follow its Ready
// condition. It writes spec.taints whole, with the node's resourceVersion
// as precondition so a taint written meanwhile (kubectl taint) is not
// lost; on a conflict it starts again from the API's copy.
func (c *Controller) updateTaints(ctx context.Context, node *corev1.Node) error {
	for attempt := 0; ; attempt++ {
		ready := readyCondition(&node.Status)
		if ready == nil {
			return nil
		}
		want := withReadinessTaints(node.Spec.Taints, ready.Status, c.CurrentTime())
		if equality.Semantic.DeepEqual(want, node.Spec.Taints) {
			return nil
		}
		body, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
			"spec":     map[string]any{"taints": want},
		})
		if err != nil {
			return err
		}
		patched, err := c.Client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{})
		if err == nil {
			c.wrote.Note(patched.ResourceVersion)
			c.Logger.Info("node taints", "name", node.Name, "ready", ready.Status, "taints", len(want))
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 2 {
			return fmt.Errorf("update taints: %w", err)
		}
		// The cache may not hold the write that won yet: the API reads
		// the local replica, which does.
		if node, err = c.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("update taints: %w", err)
		}
	}
}
