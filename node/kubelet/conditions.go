package kubelet

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node conditions the kubelet owns: MemoryPressure, DiskPressure and
// PIDPressure, with the kubelet's reasons and messages. (Ready is the
// leader's: it follows gossip and the node lease, see node/controller.)
// Every report sets lastHeartbeatTime; lastTransitionTime moves when the
// status does. A report is written when a condition changes, and
// otherwise once per Tuning.NodeStatusReport, so an idle node writes its
// status once a minute.

// pressureCondition is what one condition says in each state.
type pressureCondition struct {
	typ                       corev1.NodeConditionType
	trueReason, trueMessage   string
	falseReason, falseMessage string
	trueEvent, falseEvent     string
}

var pressureConditions = []pressureCondition{
	{corev1.NodeMemoryPressure,
		"KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
		"KubeletHasSufficientMemory", "kubelet has sufficient memory available",
		"NodeHasInsufficientMemory", "NodeHasSufficientMemory"},
	{corev1.NodeDiskPressure,
		"KubeletHasDiskPressure", "kubelet has disk pressure",
		"KubeletHasNoDiskPressure", "kubelet has no disk pressure",
		"NodeHasDiskPressure", "NodeHasNoDiskPressure"},
	{corev1.NodePIDPressure,
		"KubeletHasInsufficientPID", "kubelet has insufficient PID available",
		"KubeletHasSufficientPID", "kubelet has sufficient PID available",
		"NodeHasInsufficientPID", "NodeHasSufficientPID"},
}

// conditionsFor returns the pressure conditions to report at now, given
// the stored ones and the pressure seen, as the kubelet's setters make
// them: the heartbeat is now; a condition whose status changes (a missing
// one counts as Unknown) gets now as its transition time and its new
// reason and message. events are the node events the changes record
// (NodeHasSufficientMemory, ...).
func conditionsFor(stored []corev1.NodeCondition, under map[corev1.NodeConditionType]bool, now metav1.Time) (out []corev1.NodeCondition, events []string) {
	for _, pc := range pressureConditions {
		c := corev1.NodeCondition{Type: pc.typ, Status: corev1.ConditionUnknown}
		for _, s := range stored {
			if s.Type == pc.typ {
				c = s
			}
		}
		c.LastHeartbeatTime = now
		status, reason, message, event := corev1.ConditionFalse, pc.falseReason, pc.falseMessage, pc.falseEvent
		if under[pc.typ] {
			status, reason, message, event = corev1.ConditionTrue, pc.trueReason, pc.trueMessage, pc.trueEvent
		}
		if c.Status != status {
			c.Status, c.Reason, c.Message, c.LastTransitionTime = status, reason, message, now
			events = append(events, event)
		}
		out = append(out, c)
	}
	return out, events
}

// conditionsChanged says whether next differs from the stored conditions
// in anything but the heartbeat (Kubernetes' nodeStatusHasChanged).
func conditionsChanged(stored, next []corev1.NodeCondition) bool {
	for _, n := range next {
		found := false
		for _, s := range stored {
			if s.Type != n.Type {
				continue
			}
			found = true
			if s.Status != n.Status || s.Reason != n.Reason || s.Message != n.Message || !s.LastTransitionTime.Equal(&n.LastTransitionTime) {
				return true
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// pressureMemory holds each condition under pressure for the transition
// period after its threshold was last met (the kubelet's
// eviction-pressure-transition-period), so a signal near its threshold
// does not flap the condition.
type pressureMemory struct {
	period time.Duration
	last   map[corev1.NodeConditionType]time.Time
}

// update records what is under pressure at now and returns what the
// conditions should say.
func (p *pressureMemory) update(seen map[corev1.NodeConditionType]bool, now time.Time) map[corev1.NodeConditionType]bool {
	if p.last == nil {
		p.last = map[corev1.NodeConditionType]time.Time{}
	}
	for typ, on := range seen {
		if on {
			p.last[typ] = now
		}
	}
	out := map[corev1.NodeConditionType]bool{}
	for typ, at := range p.last {
		if now.Sub(at) < p.period {
			out[typ] = true
		}
	}
	return out
}
