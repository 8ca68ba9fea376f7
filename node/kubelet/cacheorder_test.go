package kubelet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/follow"
)

// TestLoopSeesConfigMapMadeBeforePod: the ConfigMap cache and the pod
// cache are fed by separate watches. A pod whose ConfigMap was created
// just before it starts with that ConfigMap, though the ConfigMap cache
// is a moment behind, instead of failing its mount first.
func TestLoopSeesConfigMapMadeBeforePod(t *testing.T) {
	e := newLoopEnv(t)
	e.start()
	held, release := apitest.HoldCache(t, follow.For[corev1.ConfigMap](e.Cache, "configmaps"), "blocker")
	for _, name := range []string{"blocker", "cfg"} {
		if _, err := e.CS.CoreV1().ConfigMaps("default").Create(e.Ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"greeting": "hello"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if name == "blocker" {
			<-held
		}
	}
	reasons := e.watchReasons("web")
	pod := testPod("web", "busybox:1.36")
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/app"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	e.createPod(pod)
	time.Sleep(300 * time.Millisecond) // the kubelet has the pod and waits
	release()
	e.eventually("pod Running", func() (bool, string) {
		p := e.GetPod("web")
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%+v", p.Status)
	})
	for _, ev := range e.events("web") {
		if ev.Reason == reasonFailedMount {
			t.Errorf("event %s %q: the pod started before its ConfigMap was in the cache", ev.Reason, ev.Message)
		}
	}
	if r := reasons(); slices.Contains(r, "CreateContainerConfigError") {
		t.Errorf("waiting reasons %v, want no CreateContainerConfigError", r)
	}
}
