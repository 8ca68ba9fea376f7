package kubelet

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// Event reasons, as the kubelet names them.
const (
	reasonPulling         = "Pulling"
	reasonPulled          = "Pulled"
	reasonFailed          = "Failed"
	reasonBackOff         = "BackOff"
	reasonErrImageNever   = "ErrImageNeverPull"
	reasonCreated         = "Created"
	reasonStarted         = "Started"
	reasonKilling         = "Killing"
	reasonUnhealthy       = "Unhealthy"
	reasonFailedMount     = "FailedMount"
	reasonFailedSandbox   = "FailedCreatePodSandBox"
	reasonInvalidEnvNames = "InvalidEnvironmentVariableNames"
)

// recorder records the kubelet's events about its pods and its node with
// client-go's recorder (node/events), which aggregates the repeats of an
// event into its count and lastTimestamp and never blocks.
type recorder struct {
	rec  record.EventRecorder
	node *corev1.ObjectReference
}

func newRecorder(rec record.EventRecorder, nodeName string) *recorder {
	// The kubelet's nodeRef: the node's name stands for its uid.
	return &recorder{rec: rec, node: &corev1.ObjectReference{Kind: "Node", Name: nodeName, UID: types.UID(nodeName)}}
}

// record records an event about pod; fieldPath names the container
// ("spec.containers{name}") or is empty for the pod itself. A nil
// recorder (a kubelet not running) records nothing.
func (r *recorder) record(pod *corev1.Pod, fieldPath, eventType, reason, message string) {
	if r == nil {
		return
	}
	r.rec.Event(&corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion, FieldPath: fieldPath,
	}, eventType, reason, message)
}

// recordNode records an event about this node, as the kubelet's
// recordNodeStatusEvent does: reason event, "Node <name> status is now:
// <event>"; the recorder puts it in the default namespace, where events
// about cluster-scoped objects go.
func (r *recorder) recordNode(eventType, event string) {
	if r == nil {
		return
	}
	r.rec.Event(r.node, eventType, event, fmt.Sprintf("Node %s status is now: %s", r.node.Name, event))
}

// containerField is the fieldPath of a container (init or app).
func containerField(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}
