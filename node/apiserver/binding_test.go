package apiserver

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBinding binds a pod through pods/NAME/binding (client-go sends it as
// protobuf), then checks that a second binding and a binding with a wrong
// uid are refused with 409 Conflict.
func TestBinding(t *testing.T) {
	e := newTestEnv(t)
	pod, err := e.cs.CoreV1().Pods("default").Create(e.ctx, testPod("web", "", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(uid string, node string) error {
		return e.cs.CoreV1().Pods("default").Bind(e.ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: "web", UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
	}
	if err := bind(string(pod.UID), "node-a"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	got, err := e.cs.CoreV1().Pods("default").Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-a" {
		t.Fatalf("spec.nodeName = %q, want node-a", got.Spec.NodeName)
	}
	scheduled := false
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			scheduled = true
		}
	}
	if !scheduled {
		t.Fatalf("conditions %+v: want PodScheduled=True", got.Status.Conditions)
	}
	if err := bind(string(pod.UID), "node-b"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `already assigned to node "node-a"`) {
		t.Fatalf("second bind: want 409 already assigned, got %v", err)
	}
	if _, err := e.cs.CoreV1().Pods("default").Create(e.ctx, testPod("other", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = e.cs.CoreV1().Pods("default").Bind(e.ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "other", UID: "not-its-uid"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "node-a"},
	}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("bind with a wrong uid: want 409, got %v", err)
	}
	if err := e.cs.CoreV1().Pods("default").Bind(e.ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "missing"}, Target: corev1.ObjectReference{Name: "node-a"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("bind a missing pod: want 404, got %v", err)
	}
}
