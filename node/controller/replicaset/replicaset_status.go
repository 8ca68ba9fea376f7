package replicaset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/node/controller"
)

// statusFor is Kubernetes' calculateStatus: the status of rs given
// the active pods it owns and the error of its last create or delete.
func statusFor(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := appsv1.ReplicaSetStatus{ObservedGeneration: rs.Generation, Conditions: rs.Status.DeepCopy().Conditions}
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	for _, p := range pods {
		st.Replicas++
		if templateLabels.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if controller.PodReady(p) {
			st.ReadyReplicas++
			if podAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	failure := -1
	for i, c := range st.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure {
			failure = i
		}
	}
	switch {
	case manageErr != nil && failure < 0:
		reason := reasonFailedCreate
		if len(pods) > int(ptr.Deref(rs.Spec.Replicas, 1)) {
			reason = reasonFailedDelete
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure >= 0:
		st.Conditions = append(st.Conditions[:failure], st.Conditions[failure+1:]...)
	}
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
	return st
}

// nextAvailable returns how long until the next ready pod becomes
// available, when one waits for minReadySeconds.
func nextAvailable(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) (time.Duration, bool) {
	if rs.Spec.MinReadySeconds == 0 {
		return 0, false
	}
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	var next time.Duration
	found := false
	for _, p := range pods {
		if !controller.PodReady(p) || podAvailable(p, rs.Spec.MinReadySeconds, now) {
			continue
		}
		// A second more, so the pod is strictly past minReadySeconds then.
		d := podReadyCondition(p).LastTransitionTime.Add(minReady).Sub(now) + time.Second
		if !found || d < next {
			next, found = max(d, 0), true
		}
	}
	return next, found
}

// writeStatus writes st unless rs already has it.
func (m *replicaManager) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, orig runtime.Object, st appsv1.ReplicaSetStatus) error {
	cur := rs.Status
	cur.TerminatingReplicas = nil // not reported by shoal
	if equality.Semantic.DeepEqual(cur, st) {
		return nil
	}
	if err := m.kind.updateStatus(ctx, m.deps.Client, orig, &st); err != nil {
		return fmt.Errorf("update status of %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
