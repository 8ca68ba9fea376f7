package apitest

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Template is a pod template labelled app=app.
func Template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.test/web:v1"}}},
	}
}

// Pods lists the pods labelled app=app that are not being deleted.
func (e *Env) Pods(app string) []corev1.Pod {
	e.TB.Helper()
	l, err := e.CS.CoreV1().Pods("default").List(e.Ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		e.TB.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// WantPods waits until exactly n live pods are labelled app=app.
func (e *Env) WantPods(app string, n int) []corev1.Pod {
	e.TB.Helper()
	var pods []corev1.Pod
	e.Eventually(10*time.Second, func() error {
		pods = e.Pods(app)
		if len(pods) != n {
			return fmt.Errorf("%d pods labelled app=%s, want %d", len(pods), app, n)
		}
		return nil
	})
	return pods
}

// SetReady writes the pod's status as its kubelet would: Running, and
// Ready True (with lastTransitionTime at) or False.
func (e *Env) SetReady(name string, ready bool, at time.Time) {
	e.TB.Helper()
	p, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get pod %s: %v", name, err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(at)}}
	if _, err := e.CS.CoreV1().Pods("default").UpdateStatus(e.Ctx, p, metav1.UpdateOptions{}); err != nil {
		e.TB.Fatalf("update status of pod %s: %v", name, err)
	}
}

// Bind binds the pod to node through the binding subresource.
func (e *Env) Bind(name, node string) {
	e.TB.Helper()
	err := e.CS.CoreV1().Pods("default").Bind(e.Ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatalf("bind %s to %s: %v", name, node, err)
	}
}

// Events lists the events about the object name with reason.
func (e *Env) Events(name, reason string) []corev1.Event {
	e.TB.Helper()
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
	l, err := e.CS.CoreV1().Events("").List(e.Ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		e.TB.Fatalf("list events: %v", err)
	}
	return l.Items
}

// BoundPod creates a pod bound to node, Running and Ready.
func (e *Env) BoundPod(name, node string, tols ...corev1.Toleration) {
	e.TB.Helper()
	_, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tols, Containers: Template(name).Spec.Containers},
	}, metav1.CreateOptions{})
	if err != nil {
		e.TB.Fatalf("create pod %s: %v", name, err)
	}
	e.SetReady(name, true, e.Clock.Now())
}

// GetPod gets the pod name in "default".
func (e *Env) GetPod(name string) *corev1.Pod {
	e.TB.Helper()
	p, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// PodExists gets the pod name, if it exists.
func (e *Env) PodExists(name string) (*corev1.Pod, bool) {
	e.TB.Helper()
	p, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.TB.Fatalf("get pod %s: %v", name, err)
	}
	return p, true
}

// PodNames are the pods' names, sorted.
func PodNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}
