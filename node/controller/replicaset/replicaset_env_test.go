package replicaset

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/shoal-project/shoal/internal/apitest"
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

// releaseByRelabel relabels pod name app=debug, out of its controller's
// selector, and waits until the pod has no owner and the controller with
// uid owns want pods again, the released one not among them.
func (e *rsEnv) releaseByRelabel(name, uid string, want int) {
	e.TB.Helper()
	patch := []byte(`{"metadata":{"labels":{"app":"debug"}}}`)
	if _, err := e.CS.CoreV1().Pods("default").Patch(e.Ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.TB.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		p, err := e.CS.CoreV1().Pods("default").Get(e.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Errorf("released pod still has owners %+v", p.OwnerReferences)
		}
		if pods := e.ownedPods(uid); len(pods) != want || slices.Contains(apitest.PodNames(pods), name) {
			return fmt.Errorf("owned pods %v, want %d without %s", apitest.PodNames(pods), want, name)
		}
		return nil
	})
}
