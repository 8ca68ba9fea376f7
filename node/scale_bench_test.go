package node_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/testcluster"
)

// BenchmarkScaleDeployment0To1000 measures, on a real in-process node
// (raft, API, leader controllers and scheduler), the seconds from scaling a
// Deployment from 0 to 1,000 replicas until every pod is bound, with 100
// simulated Ready nodes (Node objects without kubelets).
// Run with `make bench BENCH=ScaleDeployment`.
func BenchmarkScaleDeployment0To1000(b *testing.B) {
	c := testcluster.New(b, 1)
	cs := c.Client(0)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sim-%03d", i)}}
		created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		created.Status = corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	zero := int32(0)
	labels := map[string]string{"app": "scale"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Patch(ctx, "scale", "application/merge-patch+json", []byte(`{"spec":{"replicas":1000}}`), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	store := c.Members[0].Node.Store()
	for {
		objs, _, _ := store.List("pods", "default", "", 0)
		bound := 0
		for _, o := range objs {
			if containsNodeName(o.Raw) {
				bound++
			}
		}
		if bound >= 1000 {
			break
		}
		if time.Since(start) > 120*time.Second {
			b.Fatalf("only %d of 1000 pods bound after 120s", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-to-1000-bound")
}

func containsNodeName(raw []byte) bool { return bytes.Contains(raw, []byte(`"nodeName":"`)) }
