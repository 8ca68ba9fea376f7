package replicaset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// rsEnv is controllertest's, with the replica controllers' helpers.
type rsEnv struct{ *controllertest.Env }

func newRSEnv(tb testing.TB) *rsEnv { return &rsEnv{controllertest.New(tb)} }

// startRS runs a ReplicaSet controller with the given resync period.
func (e *rsEnv) startRS(resync time.Duration) *Controller {
	e.TB.Helper()
	c := New(e.Deps)
	if resync > 0 {
		c.resync = resync
	}
	e.RunLoop("replicaset controller", c.Run, c.Ready())
	return c
}

// startRC runs a ReplicationController controller.
func (e *rsEnv) startRC() *ReplicationManager {
	e.TB.Helper()
	c := NewReplication(e.Deps)
	e.RunLoop("replication controller", c.Run, c.Ready())
	return c
}

func (e *rsEnv) getRS(name string) *appsv1.ReplicaSet {
	e.TB.Helper()
	rs, err := e.CS.AppsV1().ReplicaSets("default").Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.TB.Fatalf("get replicaset %s: %v", name, err)
	}
	return rs
}

// scaleRS sets spec.replicas through the scale subresource, as kubectl
// scale does.
func (e *rsEnv) scaleRS(name string, replicas int32) {
	e.TB.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := e.CS.AppsV1().ReplicaSets("default").GetScale(e.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = replicas
		_, err = e.CS.AppsV1().ReplicaSets("default").UpdateScale(e.Ctx, name, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.TB.Fatalf("scale %s: %v", name, err)
	}
}

// ownedPods lists the live pods whose controller has uid.
func (e *rsEnv) ownedPods(uid string) []corev1.Pod {
	e.TB.Helper()
	l, err := e.CS.CoreV1().Pods("default").List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.TB.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if r := controllerRef(&p.ObjectMeta); r != nil && string(r.UID) == uid && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}
