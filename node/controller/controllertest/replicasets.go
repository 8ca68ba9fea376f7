package controllertest

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
)

// ReplicaSet is a ReplicaSet in "default" of replicas pods labelled
// app=name, made from apitest.Template.
func ReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: apitest.Template(name),
		},
	}
}

// CreateReplicaSet creates rs through the API and returns it as stored.
func (e *Env) CreateReplicaSet(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	e.TB.Helper()
	got, err := e.CS.AppsV1().ReplicaSets(rs.Namespace).Create(e.Ctx, rs, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatalf("create replicaset %s: %v", rs.Name, err)
	}
	return got
}
