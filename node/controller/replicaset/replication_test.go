package replicaset

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
)

func (e *rsEnv) getRC(name string) *corev1.ReplicationController {
	e.TB.Helper()
	rc, err := e.CS.CoreV1().ReplicationControllers("default").Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get replicationcontroller %s: %v", name, err)
	}
	return rc
}

func (e *rsEnv) scaleRC(name string, replicas int32) {
	e.TB.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rc := e.getRC(name)
		rc.Spec.Replicas = ptr.To(replicas)
		_, err := e.CS.CoreV1().ReplicationControllers("default").Update(e.Ctx, rc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.TB.Fatalf("scale %s: %v", name, err)
	}
}

func TestReplicationController(t *testing.T) {
	e := newRSEnv(t)
	e.startRC()

	// An orphan that matches the selector is adopted.
	orphan, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default", Labels: map[string]string{"app": "kubia"}},
		Spec:       apitest.Template("kubia").Spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The selector defaults to the template's labels, as in Kubernetes.
	tmpl := apitest.Template("kubia")
	rc, err := e.CS.CoreV1().ReplicationControllers("default").Create(e.Ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "kubia", Namespace: "default"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Template: &tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var created []corev1.Pod
	e.Eventually(10*time.Second, func() error {
		pods := e.ownedPods(string(rc.UID))
		if len(pods) != 3 || !slices.Contains(apitest.PodNames(pods), orphan.Name) {
			return fmt.Errorf("owned pods %v, want 3 with %s", apitest.PodNames(pods), orphan.Name)
		}
		created = slices.DeleteFunc(pods, func(p corev1.Pod) bool { return p.Name == orphan.Name })
		return nil
	})
	checkOwned(t, created, "ReplicationController", "v1", "kubia", string(rc.UID))
	e.Eventually(10*time.Second, func() error {
		st := e.getRC("kubia").Status
		if st.Replicas != 3 || st.FullyLabeledReplicas != 3 || st.ObservedGeneration != 1 {
			return fmt.Errorf("status %+v, want 3 replicas at generation 1", st)
		}
		evs := e.Events("kubia", "SuccessfulCreate")
		if len(evs) != 2 || evs[0].Source.Component != "replication-controller" || evs[0].InvolvedObject.Kind != "ReplicationController" {
			return fmt.Errorf("SuccessfulCreate events %+v, want 2 from replication-controller", evs)
		}
		return nil
	})

	// Ready pods are counted.
	e.SetReady(created[0].Name, true, time.Now())
	e.Eventually(10*time.Second, func() error {
		if st := e.getRC("kubia").Status; st.ReadyReplicas != 1 || st.AvailableReplicas != 1 {
			return fmt.Errorf("ready %d available %d, want 1 and 1", st.ReadyReplicas, st.AvailableReplicas)
		}
		return nil
	})

	// A pod whose labels change is released and replaced.
	e.releaseByRelabel(orphan.Name, string(rc.UID), 3)

	// Scale to 1 keeps the ready pod; a deleted pod is replaced.
	e.scaleRC("kubia", 1)
	pods := e.WantPods("kubia", 1)
	if pods[0].Name != created[0].Name {
		t.Errorf("scale to 1 kept %s, want the ready pod %s", pods[0].Name, created[0].Name)
	}
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		pods := e.Pods("kubia")
		if len(pods) != 1 || pods[0].Name == created[0].Name {
			return fmt.Errorf("pods %v, want one replacing %s", apitest.PodNames(pods), created[0].Name)
		}
		return nil
	})
}
