package replicaset

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/follow"
)

// checkOwned fails unless every pod is named <owner>-xxxxx and controlled
// by the owner.
func checkOwned(t *testing.T, pods []corev1.Pod, kind, apiVersion, name, uid string) {
	t.Helper()
	re := regexp.MustCompile("^" + regexp.QuoteMeta(name) + "-[bcdfghjklmnpqrstvwxz2456789]{5}$")
	for _, p := range pods {
		ref := controllerRef(&p.ObjectMeta)
		if !re.MatchString(p.Name) {
			t.Errorf("pod name %q, want %s-xxxxx", p.Name, name)
		}
		if ref == nil || ref.Kind != kind || ref.APIVersion != apiVersion || ref.Name != name || string(ref.UID) != uid ||
			!ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("pod %s owner references %+v, want controller %s %s (uid %s) blocking deletion", p.Name, p.OwnerReferences, kind, name, uid)
		}
	}
}

func TestReplicaSetController(t *testing.T) {
	e := newRSEnv(t)
	c := e.startRS(0)
	rs := e.CreateReplicaSet(controllertest.ReplicaSet("web", 3))

	pods := e.WantPods("web", 3)
	checkOwned(t, pods, "ReplicaSet", "apps/v1", "web", string(rs.UID))
	e.Eventually(10*time.Second, func() error {
		got := e.getRS("web")
		if got.Status.Replicas != 3 || got.Status.FullyLabeledReplicas != 3 || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("status %+v, want 3 replicas observed at generation %d", got.Status, got.Generation)
		}
		evs := e.Events("web", "SuccessfulCreate")
		if len(evs) != 3 {
			return fmt.Errorf("%d SuccessfulCreate events, want 3", len(evs))
		}
		for _, ev := range evs {
			if ev.Source.Component != "replicaset-controller" || ev.InvolvedObject.Kind != "ReplicaSet" ||
				!slices.Contains(apitest.PodNames(pods), ev.Message[len("Created pod: "):]) {
				return fmt.Errorf("event %s %q from %s about %s", ev.Reason, ev.Message, ev.Source.Component, ev.InvolvedObject.Kind)
			}
		}
		return nil
	})

	// Scale up to 5, then make one pod running and ready: scaling down
	// to 1 keeps it and deletes the four pending ones.
	e.scaleRS("web", 5)
	pods = e.WantPods("web", 5)
	keep := pods[2].Name
	e.SetReady(keep, true, time.Now())
	e.scaleRS("web", 1)
	pods = e.WantPods("web", 1)
	if pods[0].Name != keep {
		t.Errorf("scale to 1 kept %s, want the ready pod %s", pods[0].Name, keep)
	}
	e.Eventually(10*time.Second, func() error {
		if n := len(e.Events("web", "SuccessfulDelete")); n != 4 {
			return fmt.Errorf("%d SuccessfulDelete events, want 4", n)
		}
		got := e.getRS("web").Status
		if got.Replicas != 1 || got.ReadyReplicas != 1 || got.AvailableReplicas != 1 {
			return fmt.Errorf("status %+v, want 1 replica, ready and available", got)
		}
		return nil
	})
	if n := c.creates.Load(); n != 5 {
		t.Errorf("%d creates, want 5", n)
	}

	// A deleted pod is replaced.
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, keep, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods = e.WantPods("web", 1)
	if pods[0].Name == keep {
		t.Fatalf("pod %s not replaced", keep)
	}

	// A failed pod is replaced (and, as in Kubernetes, left in place).
	failed := pods[0]
	failed.Status.Phase = corev1.PodFailed
	if _, err := e.CS.CoreV1().Pods("default").UpdateStatus(e.Ctx, &failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		var live []string
		for _, p := range e.Pods("web") {
			if p.Status.Phase != corev1.PodFailed {
				live = append(live, p.Name)
			}
		}
		if len(live) != 1 || live[0] == failed.Name {
			return fmt.Errorf("active pods %v, want one replacing %s", live, failed.Name)
		}
		return nil
	})
}

func TestReplicaSetReleaseAndAdopt(t *testing.T) {
	e := newRSEnv(t)
	e.startRS(0)

	// An orphan that matches is adopted: the ReplicaSet creates only two.
	orphan, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       apitest.Template("web").Spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := e.CreateReplicaSet(controllertest.ReplicaSet("web", 3))
	e.Eventually(10*time.Second, func() error {
		pods := e.ownedPods(string(rs.UID))
		if len(pods) != 3 || !slices.Contains(apitest.PodNames(pods), orphan.Name) {
			return fmt.Errorf("owned pods %v, want 3 with %s", apitest.PodNames(pods), orphan.Name)
		}
		return nil
	})
	if n := len(e.Pods("web")); n != 3 {
		t.Errorf("%d pods, want 3", n)
	}

	// A pod whose labels change is released, and replaced.
	victim := e.ownedPods(string(rs.UID))[0]
	e.releaseByRelabel(victim.Name, string(rs.UID), 3)
	// Put back, it is adopted again, and the surplus pod deleted.
	patch := []byte(`{"metadata":{"labels":{"app":"web"}}}`)
	if _, err := e.CS.CoreV1().Pods("default").Patch(e.Ctx, victim.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error {
		if pods := e.ownedPods(string(rs.UID)); len(pods) != 3 || len(e.Pods("web")) != 3 {
			return fmt.Errorf("owned pods %v, want 3", apitest.PodNames(pods))
		}
		return nil
	})
}

// TestReplicaSetSeesEarlierPods: the pod and ReplicaSet caches are fed by
// separate watches, so the ReplicaSet can reach its cache before a pod
// created just before it reaches the pod cache. The sync waits for the
// pod cache to hold every pod older than the ReplicaSet, and adopts the
// orphan instead of creating a replica too many (a flake in CI).
func TestReplicaSetSeesEarlierPods(t *testing.T) {
	e := newRSEnv(t)
	c := New(e.Deps)
	pods := follow.For[corev1.Pod](e.Cache, "pods")
	held, release := apitest.HoldCache(t, pods, "blocker")
	for _, p := range []struct{ name, app string }{{"blocker", "other"}, {"stray", "web"}} {
		if _, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default", Labels: map[string]string{"app": p.app}},
			Spec:       apitest.Template(p.app).Spec,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if p.name == "blocker" {
			<-held
		}
	}
	rs := e.CreateReplicaSet(controllertest.ReplicaSet("web", 2))
	e.Eventually(10*time.Second, func() error {
		if _, _, ok, _ := c.source().get("default", "web"); !ok {
			return fmt.Errorf("replicaset web not in the cache")
		}
		return nil
	})
	if _, ok := pods.Get("default", "stray"); ok {
		t.Fatal("the pod cache holds stray while blocked: the test does not exercise the race")
	}
	time.AfterFunc(200*time.Millisecond, release)
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := c.creates.Load(); n != 1 {
		t.Errorf("%d pods created beside the orphan, want 1", n)
	}
	e.Eventually(10*time.Second, func() error {
		if owned := e.ownedPods(string(rs.UID)); !slices.Contains(apitest.PodNames(owned), "stray") {
			return fmt.Errorf("owned pods %v, want stray among them", apitest.PodNames(owned))
		}
		return nil
	})
}

func TestReplicaSetReadyAndAvailable(t *testing.T) {
	e := newRSEnv(t)
	e.Clock.Set(apitest.T0)
	c := e.startRS(0)
	rs := controllertest.ReplicaSet("web", 3)
	rs.Spec.MinReadySeconds = 30
	e.CreateReplicaSet(rs)
	pods := e.WantPods("web", 3)

	status := func(ready, available int32) {
		t.Helper()
		e.Eventually(10*time.Second, func() error {
			st := e.getRS("web").Status
			if st.ReadyReplicas != ready || st.AvailableReplicas != available {
				return fmt.Errorf("ready %d available %d, want %d and %d", st.ReadyReplicas, st.AvailableReplicas, ready, available)
			}
			return nil
		})
	}
	e.SetReady(pods[0].Name, true, apitest.T0)
	e.SetReady(pods[1].Name, true, apitest.T0.Add(20*time.Second))
	e.SetReady(pods[2].Name, false, apitest.T0)
	status(2, 0)
	// 31s later the first is available, 51s later the second.
	e.Clock.Advance(31 * time.Second)
	c.queue.Add("default/web")
	status(2, 1)
	e.Clock.Advance(20 * time.Second)
	c.queue.Add("default/web")
	status(2, 2)
	e.SetReady(pods[0].Name, false, e.Clock.Now())
	status(1, 1)
}

func TestReplicaSetNoDoubleCreate(t *testing.T) {
	e := newRSEnv(t)
	c := e.startRS(20 * time.Millisecond) // a resync every 20ms
	rs := e.CreateReplicaSet(controllertest.ReplicaSet("web", 20))
	e.WantPods("web", 20)
	// Many resyncs (and the status writes' own events) later, still 20.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := len(e.Pods("web")); n != 20 {
			t.Fatalf("%d pods, want 20", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := c.creates.Load(); n != 20 {
		t.Errorf("%d creates, want 20", n)
	}
	if n := c.deletes.Load(); n != 0 {
		t.Errorf("%d deletes, want 0", n)
	}
	checkOwned(t, e.Pods("web"), "ReplicaSet", "apps/v1", "web", string(rs.UID))
}

// TestReplicaSetExpectationsHold checks that a sync does not count pods
// while the store has not caught up with its own creates.
func TestReplicaSetExpectationsHold(t *testing.T) {
	e := newRSEnv(t)
	c := New(e.Deps)
	e.CreateReplicaSet(controllertest.ReplicaSet("web", 2))
	// As if creates had returned at an index the store has not reached.
	c.expect.expect("default/web", 1, time.Now())
	c.expect.created("default/web", e.Store.Index()+1000, time.Now())
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Pods("web")); n != 0 {
		t.Fatalf("%d pods created while expectations were pending, want 0", n)
	}
	c.expect.forget("default/web")
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Pods("web")); n != 2 {
		t.Fatalf("%d pods, want 2", n)
	}
	// Synced again at once: the store shows both, nothing more is created.
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := c.creates.Load(); n != 2 {
		t.Errorf("%d creates, want 2", n)
	}
}

func TestReplicaSetScaleUpBurst(t *testing.T) {
	e := newRSEnv(t)
	c := New(e.Deps)
	c.burst = 7
	e.CreateReplicaSet(controllertest.ReplicaSet("web", 10))
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Pods("web")); n != 7 {
		t.Fatalf("%d pods after one sync, want the burst of 7", n)
	}
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Pods("web")); n != 10 {
		t.Fatalf("%d pods after two syncs, want 10", n)
	}
	// The status counts the pods a sync found; the next one sees all.
	e.Synced()
	if err := c.sync(e.Ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	st := e.getRS("web").Status
	if st.Replicas != 10 || c.creates.Load() != 10 {
		t.Errorf("status replicas %d, want 10", st.Replicas)
	}
}
