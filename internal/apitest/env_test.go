package apitest_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/follow"
)

// TestEnv: what a test writes through the client or seeds in the store
// reads back through the API and reaches the running cache.
func TestEnv(t *testing.T) {
	e := apitest.New(t)
	e.ReadyNode("node-a", "192.0.2.1", true)
	e.Seed("pods", "default", "web", "uid-web", apitest.T0, &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       apitest.Template("web").Spec,
	})
	if p := e.GetPod("web"); p.UID != "uid-web" || !p.CreationTimestamp.Time.Equal(apitest.T0) {
		t.Fatalf("seeded pod: uid %q created %v, want uid-web at %v", p.UID, p.CreationTimestamp, apitest.T0)
	}
	e.Bind("web", "node-a")
	pods := follow.For[corev1.Pod](e.Cache, "pods")
	e.Synced()
	if p, ok := pods.Get("default", "web"); !ok || p.Spec.NodeName != "node-a" {
		t.Fatalf("cache after Synced: %v %v, want web bound to node-a", p, ok)
	}
	if got := apitest.PodNames(e.WantPods("web", 1)); len(got) != 1 || got[0] != "web" {
		t.Fatalf("WantPods = %v", got)
	}
	if e.Conns() == 0 {
		t.Error("Conns = 0 after requests")
	}
	e.Clock.Set(apitest.T0)
	e.Clock.Advance(time.Minute)
	if got := e.Clock.Now(); !got.Equal(apitest.T0.Add(time.Minute)) {
		t.Errorf("clock %v, want T0+1m", got)
	}
}
