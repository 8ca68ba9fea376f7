package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/node/controller"
)

// Controller keeps spec.replicas pods of every apps/v1
// ReplicaSet running, as kube-controller-manager's replicaset controller:
// it creates pods from the template (named "<replicaset>-<5 random
// chars>", controlled by the ReplicaSet) in slow-start batches, deletes
// the surplus (unscheduled, pending and not-ready pods first), replaces
// pods that fail or are deleted, adopts matching orphans, releases pods
// whose labels no longer match, and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas and the ReplicaFailure condition.
// Build it with New and call Run once.
type Controller struct {
	*replicaManager
}

// New assembles the controller over d; it does no I/O.
func New(d controller.Deps) *Controller {
	return &Controller{newReplicaManager(d, replicaSetKind)}
}

var replicaSetKind = replicaKind{
	gvk:       appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
	component: "replicaset-controller",
	source:    replicaSetsFrom,
	updateStatus: func(ctx context.Context, c kubernetes.Interface, orig runtime.Object, st *appsv1.ReplicaSetStatus) error {
		rs := orig.(*appsv1.ReplicaSet).DeepCopy()
		rs.Status = *st
		_, err := c.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		return err
	},
}
