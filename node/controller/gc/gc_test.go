package gc

import (
	"context"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/node/controller/controllertest"
)

// gcEnv is controllertest's, with the garbage collector run pass by pass.
func gcEnv(t *testing.T) (kubernetes.Interface, *Collector) {
	e := controllertest.New(t)
	return e.CS, &Collector{Deps: e.Deps}
}

// ownedSet makes a ReplicaSet and n pods it controls.
func ownedSet(t *testing.T, cs kubernetes.Interface, name string, n int) *appsv1.ReplicaSet {
	ctx := context.Background()
	one := int32(n)
	labels := map[string]string{"app": name}
	rs, err := cs.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for i := 0; i < n; i++ {
		_, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Labels: labels, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: rs.UID, Controller: &yes, BlockOwnerDeletion: &yes,
			}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

func podsOf(t *testing.T, cs kubernetes.Interface, app string) []corev1.Pod {
	l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// collectUntil runs passes until cond holds.
func collectUntil(t *testing.T, gc *Collector, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 50; i++ {
		if err := gc.Collect(context.Background()); err != nil {
			t.Fatalf("collect: %v", err)
		}
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("garbage collection never reached: %s", what)
}

func TestGarbageCollectorBackground(t *testing.T) {
	cs, gc := gcEnv(t)
	ownedSet(t, cs, "bg", 3)
	bg := metav1.DeletePropagationBackground
	if err := cs.AppsV1().ReplicaSets("default").Delete(context.Background(), "bg", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	collectUntil(t, gc, "the owned pods deleted", func() bool { return len(podsOf(t, cs, "bg")) == 0 })
}

func TestGarbageCollectorOrphan(t *testing.T) {
	cs, gc := gcEnv(t)
	ownedSet(t, cs, "orph", 2)
	orphan := metav1.DeletePropagationOrphan
	if err := cs.AppsV1().ReplicaSets("default").Delete(context.Background(), "orph", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	collectUntil(t, gc, "the owner gone and its pods kept without owner", func() bool {
		_, err := cs.AppsV1().ReplicaSets("default").Get(context.Background(), "orph", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	pods := podsOf(t, cs, "orph")
	if len(pods) != 2 {
		t.Fatalf("%d pods left, want the 2 orphans", len(pods))
	}
	for _, p := range pods {
		if len(p.OwnerReferences) != 0 {
			t.Fatalf("pod %s still has owners %+v", p.Name, p.OwnerReferences)
		}
	}
}

// TestGarbageCollectorForeground: the owner stays, marked, until its
// dependents are gone; then it goes too.
func TestGarbageCollectorForeground(t *testing.T) {
	cs, gc := gcEnv(t)
	ctx := context.Background()
	ownedSet(t, cs, "fg", 3)
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rsw, err := cs.AppsV1().ReplicaSets("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rsw.Stop()
	fg := metav1.DeletePropagationForeground
	if err := cs.AppsV1().ReplicaSets("default").Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	rs, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "fg", metav1.GetOptions{})
	if err != nil || rs.DeletionTimestamp == nil {
		t.Fatalf("right after a foreground delete the owner must still exist, marked: %v %+v", err, rs)
	}
	collectUntil(t, gc, "owner and dependents gone", func() bool {
		_, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "fg", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	// Order: every pod's DELETED arrived before the owner's.
	podsDeleted, lastPodRV := 0, 0
	for podsDeleted < 3 {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Deleted {
				podsDeleted++
				if rv, _ := strconv.Atoi(ev.Object.(*corev1.Pod).ResourceVersion); rv > lastPodRV {
					lastPodRV = rv
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("saw %d pod deletions, want 3", podsDeleted)
		}
	}
	ownerGoneAt := 0
	for ownerGoneAt == 0 {
		select {
		case ev := <-rsw.ResultChan():
			if ev.Type == watch.Deleted {
				ownerGoneAt, _ = strconv.Atoi(ev.Object.(*appsv1.ReplicaSet).ResourceVersion)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no DELETED event for the owner")
		}
	}
	if lastPodRV >= ownerGoneAt {
		t.Fatalf("the owner went at resourceVersion %d, before its last dependent (%d)", ownerGoneAt, lastPodRV)
	}
}
