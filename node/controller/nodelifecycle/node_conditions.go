package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node conditions on the leader's side. Ready follows gossip and the node
// lease (nodes.go); its lastHeartbeatTime moves when it changes and, while
// the node stays Ready, once per Heartbeat (a minute), so an idle cluster
// writes little. The pressure conditions (MemoryPressure, DiskPressure,
// PIDPressure) are the kubelet's (node/kubelet/conditions.go); when the
// leader stops hearing from a worker (gossip Dead or Left, a stale lease)
// they turn Unknown with Ready, as Kubernetes' node lifecycle controller
// marks every condition of a kubelet that stopped posting, keeping their
// last heartbeat.

// DefaultNodeHeartbeat is how often a Ready node's Ready heartbeat moves
// when nothing changes.
const DefaultNodeHeartbeat = time.Minute

// kubeletStopped is Kubernetes' message for conditions no longer posted.
const kubeletStopped = "Kubelet stopped posting node status."

// kubeletConditions are the conditions the kubelet owns.
var kubeletConditions = []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

func nodeCondition(st *corev1.NodeStatus, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setReady makes the Ready condition say status, reason and message. A
// change moves the heartbeat (and, for a new status, the transition time);
// an Unknown status keeps the last heartbeat, the last time the node was
// heard from. An unchanged True condition has its heartbeat moved once
// it is heartbeat old.
func setReady(st *corev1.NodeStatus, status corev1.ConditionStatus, reason, message string, now metav1.Time, heartbeat time.Duration) {
	cur := readyCondition(st)
	if cur == nil {
		st.Conditions = append(st.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, LastHeartbeatTime: now})
		cur = &st.Conditions[len(st.Conditions)-1]
	}
	if cur.Status == status && cur.Reason == reason && cur.Message == message {
		if status == corev1.ConditionTrue && now.Sub(cur.LastHeartbeatTime.Time) >= heartbeat {
			cur.LastHeartbeatTime = now
		}
		return
	}
	if cur.Status != status {
		cur.LastTransitionTime = now
	}
	cur.Status, cur.Reason, cur.Message = status, reason, message
	if status != corev1.ConditionUnknown {
		cur.LastHeartbeatTime = now
	}
}

// markKubeletConditionsUnknown turns the kubelet's conditions Unknown, as
// Kubernetes' node lifecycle controller does once a kubelet stops posting:
// a condition never posted is added (NodeStatusNeverUpdated), one posted
// turns NodeStatusUnknown with its last heartbeat kept.
func markKubeletConditionsUnknown(node *corev1.Node, now metav1.Time) {
	for _, typ := range kubeletConditions {
		c := nodeCondition(&node.Status, typ)
		if c == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: typ, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			continue
		}
		if c.Status != corev1.ConditionUnknown {
			c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, "NodeStatusUnknown", kubeletStopped, now
		}
	}
}
