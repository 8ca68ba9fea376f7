package replicaset

import (
	"context"
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/node/controller"
)

// ReplicationManager keeps spec.replicas pods of every core/v1
// ReplicationController running. As in kube-controller-manager, it is the
// ReplicaSet controller run over ReplicationControllers converted to
// ReplicaSets: the same creation, deletion order, adoption, release and
// status, with a map selector and owner references of kind
// ReplicationController. Build it with NewReplication and call
// Run once.
type ReplicationManager struct {
	*replicaManager
}

// NewReplication assembles the controller over d; it does no I/O.
func NewReplication(d controller.Deps) *ReplicationManager {
	return &ReplicationManager{newReplicaManager(d, replicationControllerKind)}
}

var replicationControllerKind = replicaKind{
	gvk:       corev1.SchemeGroupVersion.WithKind("ReplicationController"),
	component: "replication-controller",
	source:    replicationControllersFrom,
	updateStatus: func(ctx context.Context, c kubernetes.Interface, orig runtime.Object, st *appsv1.ReplicaSetStatus) error {
		rc := orig.(*corev1.ReplicationController).DeepCopy()
		rc.Status = rcStatusFromRS(st)
		_, err := c.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
		return err
	},
}

// replicaSetFromRC converts as Kubernetes' replication/conversion.go does:
// the map selector becomes matchLabels.
func replicaSetFromRC(rc *corev1.ReplicationController) (*appsv1.ReplicaSet, error) {
	if rc.Spec.Template == nil {
		return nil, errors.New("spec.template is required")
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
			Template:        *rc.Spec.Template.DeepCopy(),
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs, nil
}

func rcStatusFromRS(st *appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             st.Replicas,
		FullyLabeledReplicas: st.FullyLabeledReplicas,
		ReadyReplicas:        st.ReadyReplicas,
		AvailableReplicas:    st.AvailableReplicas,
		ObservedGeneration:   st.ObservedGeneration,
	}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}
