package deployment

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestDeploymentScaleDuringRollout scales proportionally mid-rollout and
// then finishes at the new size.
func TestDeploymentScaleDuringRollout(t *testing.T) {
	e := newDepEnv(t)
	e.create(testDeployment("web", 10, "app:v1"))
	e.rollOut("web", func(string) {})
	e.setImage("web", "app:v2")
	e.sync("web")        // new 3, old 10
	e.sync("web")        // old 8
	e.sync("web")        // new 5
	e.podsCreated("web") // new pods exist, not available
	before := e.replicaSets("web")
	oldBefore, newBefore := *before[0].Spec.Replicas, *before[1].Spec.Replicas
	if oldBefore != 8 || newBefore != 5 {
		t.Fatalf("unexpected start: %s", e.describe("web"))
	}

	e.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](20) })
	e.sync("web")
	after := e.replicaSets("web")
	oldAfter, newAfter := *after[0].Spec.Replicas, *after[1].Spec.Replicas
	// 20 + 25% surge = 25 pods allowed, 12 added in proportion to the
	// sizes: old 8/13 and new 5/13 of 25.
	if oldAfter != 15 || newAfter != 10 {
		t.Errorf("proportional scale: old %d->%d, new %d->%d; want 15 and 10", oldBefore, oldAfter, newBefore, newAfter)
	}
	for _, rs := range after {
		if rs.Annotations[DesiredReplicasAnnotation] != "20" || rs.Annotations[MaxReplicasAnnotation] != "25" {
			t.Errorf("%s annotations %v", rs.Name, rs.Annotations)
		}
	}
	e.rollOut("web", func(step string) {
		if spec, _, _ := e.totals("web"); spec > 25 {
			t.Fatalf("%s: %d pods asked for, at most 25 allowed\n%s", step, spec, e.describe("web"))
		}
	})
	if d := e.get("web"); d.Status.UpdatedReplicas != 20 || d.Status.AvailableReplicas != 20 {
		t.Errorf("final status %+v", d.Status)
	}

	// Scaling a finished deployment down: one event, no rollout.
	e.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	e.rollOut("web", func(string) {})
	nrs := e.newReplicaSet("web")
	if *nrs.Spec.Replicas != 5 || !e.hasEvent("Scaled down replica set "+nrs.Name+" from 20 to 5") {
		t.Errorf("scale down: %s events %q", e.describe("web"), e.events)
	}
}

// TestDeploymentPaused: a paused deployment does not roll out but still
// scales, and reports it in Progressing; resuming rolls out.
func TestDeploymentPaused(t *testing.T) {
	e := newDepEnv(t)
	e.create(testDeployment("web", 3, "app:v1"))
	e.rollOut("web", func(string) {})
	e.update("web", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	e.setImage("web", "app:v2")
	e.sync("web")
	e.sync("web")
	if n := len(e.replicaSets("web")); n != 1 {
		t.Fatalf("paused deployment rolled out: %s", e.describe("web"))
	}
	d := e.get("web")
	if c := getDeploymentCondition(d.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != "DeploymentPaused" || c.Status != corev1.ConditionUnknown || c.Message != "Deployment is paused" {
		t.Errorf("Progressing while paused: %+v", c)
	}
	if d.Status.ObservedGeneration != d.Generation {
		t.Errorf("paused: observedGeneration %d, generation %d", d.Status.ObservedGeneration, d.Generation)
	}

	e.update("web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	e.sync("web")
	if rss := e.replicaSets("web"); len(rss) != 1 || *rss[0].Spec.Replicas != 5 {
		t.Fatalf("paused deployment did not scale: %s", e.describe("web"))
	}

	e.update("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	e.sync("web")
	if n := len(e.replicaSets("web")); n != 2 {
		t.Fatalf("resumed deployment did not roll out: %s", e.describe("web"))
	}
	e.rollOut("web", func(string) {})
}

// TestDeploymentProgressDeadline: with new pods that never become
// available, Progressing turns False/ProgressDeadlineExceeded once
// progressDeadlineSeconds pass without progress (fake clock).
func TestDeploymentProgressDeadline(t *testing.T) {
	e := newDepEnv(t)
	e.create(testDeployment("web", 2, "app:v1"), func(d *appsv1.Deployment) { d.Spec.ProgressDeadlineSeconds = ptr.To[int32](30) })
	e.rollOut("web", func(string) {})
	e.setImage("web", "app:does-not-exist")
	for range 3 {
		e.sync("web")
		e.podsCreated("web") // pods come, never available
	}
	nrs := e.newReplicaSet("web")
	progressing := func() *appsv1.DeploymentCondition {
		return getDeploymentCondition(e.get("web").Status, appsv1.DeploymentProgressing)
	}
	if c := progressing(); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("Progressing before the deadline: %+v", c)
	}
	e.Clock.Advance(20 * time.Second)
	e.sync("web")
	if c := progressing(); c.Status != corev1.ConditionTrue {
		t.Fatalf("timed out early: %+v", c)
	}
	e.Clock.Advance(15 * time.Second)
	e.sync("web")
	c := progressing()
	want := fmt.Sprintf("ReplicaSet %q has timed out progressing.", nrs.Name)
	if c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" || c.Message != want {
		t.Fatalf("after the deadline: %+v", c)
	}
	// The old pods keep serving: Available stays True.
	if a := getDeploymentCondition(e.get("web").Status, appsv1.DeploymentAvailable); a.Status != corev1.ConditionTrue {
		t.Errorf("Available %+v", a)
	}
	// A rollback to the good template recovers.
	rss := e.replicaSets("web")
	patch := kubectlUndoPatch(t, rss[0], map[string]string{})
	if _, err := e.CS.AppsV1().Deployments("default").Patch(e.Ctx, "web", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rollOut("web", func(string) {})
	if c := progressing(); c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("after rollback: %+v", c)
	}
}

// TestDeploymentAdoptAndRelease: an orphan ReplicaSet with the
// deployment's template is adopted and used (no second ReplicaSet), and an
// owned one whose labels stop matching is released.
func TestDeploymentAdoptAndRelease(t *testing.T) {
	e := newDepEnv(t)
	d := testDeployment("web", 2, "app:v1")
	// The orphan is what a deleted deployment (orphan propagation) left.
	tmpl := d.Spec.Template.DeepCopy()
	hash := ComputePodTemplateHash(tmpl, nil)
	tmpl.Labels = cloneAndAddLabel(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", Labels: tmpl.Labels,
			Annotations: map[string]string{RevisionAnnotation: "4"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: *tmpl,
		},
	}
	if _, err := e.CS.AppsV1().ReplicaSets("default").Create(e.Ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = e.create(d)
	e.rollOut("web", func(string) {})
	rss := e.replicaSets("web")
	if len(rss) != 1 || rss[0].Name != orphan.Name {
		t.Fatalf("orphan not adopted as the new replicaset: %s", e.describe("web"))
	}
	if got := e.get("web").Annotations[RevisionAnnotation]; got != "4" {
		t.Errorf("deployment revision %q, want the adopted 4", got)
	}

	// A user relabels the ReplicaSet out of the selector: released.
	rs := rss[0]
	rs.Labels = map[string]string{"app": "other"}
	if _, err := e.CS.AppsV1().ReplicaSets("default").Update(e.Ctx, rs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync("web")
	got, err := e.CS.AppsV1().ReplicaSets("default").Get(e.Ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(got); ref != nil {
		t.Errorf("relabelled replicaset not released: %+v", ref)
	}
}

// TestDeploymentHashCollision: a ReplicaSet of another template holding
// the name makes the controller bump collisionCount and use a new name.
func TestDeploymentHashCollision(t *testing.T) {
	e := newDepEnv(t)
	d := e.create(testDeployment("web", 1, "app:v1"))
	hash := ComputePodTemplateHash(&d.Spec.Template, nil)
	other := testDeployment("x", 1, "other:v1").Spec.Template
	other.Labels = map[string]string{"app": "x", appsv1.DefaultDeploymentUniqueLabelKey: hash}
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", Labels: other.Labels},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: other.Labels}, Template: other},
	}
	if _, err := e.CS.AppsV1().ReplicaSets("default").Create(e.Ctx, squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.Synced()
	if err := e.c.syncKey(e.Ctx, "default/web"); err == nil {
		t.Fatal("first pass should fail on the collision")
	}
	if cc := e.get("web").Status.CollisionCount; cc == nil || *cc != 1 {
		t.Fatalf("collisionCount %v", cc)
	}
	e.rollOut("web", func(string) {})
	nrs := e.newReplicaSet("web")
	if want := "web-" + ComputePodTemplateHash(&d.Spec.Template, ptr.To[int32](1)); nrs.Name != want {
		t.Errorf("new replicaset %s, want %s", nrs.Name, want)
	}
}

// TestDeploymentRestartedAt: kubectl rollout restart is a template
// annotation change, rolled out like any other.
func TestDeploymentRestartedAt(t *testing.T) {
	e := newDepEnv(t)
	e.create(testDeployment("web", 2, "app:v1"))
	e.rollOut("web", func(string) {})
	patch := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2030-01-02T03:04:05Z"}}}}}`
	if _, err := e.CS.AppsV1().Deployments("default").Patch(e.Ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rollOut("web", func(string) {})
	if n := len(e.replicaSets("web")); n != 2 {
		t.Errorf("restart made %d replicasets", n)
	}
}
