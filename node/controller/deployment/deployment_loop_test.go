package deployment

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestDeploymentRunLoop runs the controller's own loop (watches, queue,
// workers) against a simulated ReplicaSet controller, then a second
// controller as after a leader change: it must pick up where the first
// stopped and make no duplicate ReplicaSet.
func TestDeploymentRunLoop(t *testing.T) {
	e := newDepEnv(t)
	e.Deps.Now = nil
	go e.simulateReplicaSets(e.Ctx)

	run := func() (stop func()) {
		c := New(e.Deps, WithResync(200*time.Millisecond))
		ctx, cancel := context.WithCancel(e.Ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		select {
		case <-c.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("controller not ready")
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	waitComplete := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !e.complete("web") {
			if time.Now().After(deadline) {
				t.Fatalf("not complete: %s", e.describe("web"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	stop := run()
	e.create(testDeployment("web", 4, "app:v1"))
	waitComplete()
	e.setImage("web", "app:v2")
	// Hand over as soon as the new ReplicaSet exists, mid-rollout.
	for deadline := time.Now().Add(10 * time.Second); e.newReplicaSet("web") == nil; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new replicaset: %s", e.describe("web"))
		}
	}
	stop()
	t.Logf("handed over at: %s", e.describe("web"))

	stop = run()
	defer stop()
	waitComplete()
	if n := len(e.replicaSets("web")); n != 2 {
		t.Fatalf("%d replicasets after the hand-over: %s", n, e.describe("web"))
	}
	// The events went through the API, aggregated by the broadcaster.
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := e.CS.CoreV1().Events("default").List(e.Ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range evs.Items {
			if ev.Reason == "ScalingReplicaSet" && ev.Source.Component == "deployment-controller" && ev.InvolvedObject.Kind == "Deployment" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ScalingReplicaSet event stored: %+v", evs.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// simulateReplicaSets plays the ReplicaSet controller: every ReplicaSet
// reports spec.replicas pods, all available, a little after it changes.
func (e *testEnv) simulateReplicaSets(ctx context.Context) {
	w, err := e.Store.Watch(resReplicaSets, "", 0)
	if err != nil {
		return
	}
	defer w.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Events():
		case <-t.C:
		}
		list, err := e.CS.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range list.Items {
			rs := &list.Items[i]
			n := ptr.Deref(rs.Spec.Replicas, 0)
			s := rs.Status
			if s.Replicas == n && s.AvailableReplicas == n && s.ObservedGeneration == rs.Generation {
				continue
			}
			rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, n, n
			rs.Status.FullyLabeledReplicas, rs.Status.ObservedGeneration = n, rs.Generation
			_, _ = e.CS.AppsV1().ReplicaSets("default").UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		}
	}
}
