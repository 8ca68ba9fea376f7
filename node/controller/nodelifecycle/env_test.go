package nodelifecycle

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/controller/replicaset"
)

// testEnv is controllertest's, with a ReplicaSet controller: eviction's
// tests check that evicted pods are made again.
type testEnv struct{ *controllertest.Env }

func newTestEnv(t *testing.T) *testEnv { return &testEnv{controllertest.New(t)} }

// startRS runs a ReplicaSet controller until the test ends.
func (e *testEnv) startRS() {
	e.TB.Helper()
	c := replicaset.New(e.Deps)
	e.RunLoop("replicaset controller", c.Run, c.Ready())
}

// createRS creates a ReplicaSet of replicas pods labelled app=name.
func (e *testEnv) createRS(name string, replicas int32) {
	e.TB.Helper()
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: apitest.Template(name),
		},
	}
	if _, err := e.CS.AppsV1().ReplicaSets("default").Create(e.Ctx, rs, metav1.CreateOptions{}); err != nil {
		e.TB.Fatalf("create replicaset %s: %v", name, err)
	}
}
