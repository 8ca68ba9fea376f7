package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestDeploymentCreateAndStatus: the first ReplicaSet, its name, labels,
// selector, owner and annotations, and the status kubectl rollout status
// and describe read once it is complete.
func TestDeploymentCreateAndStatus(t *testing.T) {
	e := newDepEnv(t)
	d := depTestDeployment("web", 3, "app:v1")
	d.Annotations = map[string]string{
		"kubernetes.io/change-cause":       "first",
		corev1.LastAppliedConfigAnnotation: "{}",
	}
	d = e.create(d)
	e.rollOut("web", func(string) {})

	rss := e.replicaSets("web")
	if len(rss) != 1 {
		t.Fatalf("want 1 replicaset, got %d", len(rss))
	}
	rs := rss[0]
	hash := ComputePodTemplateHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash {
		t.Errorf("replicaset name %q, want web-%s", rs.Name, hash)
	}
	for what, got := range map[string]string{
		"label":          rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey],
		"selector":       rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey],
		"template label": rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey],
	} {
		if got != hash {
			t.Errorf("pod-template-hash %s = %q, want %q", what, got, hash)
		}
	}
	if rs.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("selector lost the deployment's labels: %v", rs.Spec.Selector.MatchLabels)
	}
	ref := metav1.GetControllerOf(rs)
	if ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != "web" ||
		!ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("controller reference %+v", ref)
	}
	wantAnn := map[string]string{
		RevisionAnnotation:           "1",
		DesiredReplicasAnnotation:    "3",
		MaxReplicasAnnotation:        "4", // 3 + 25% rounded up
		"kubernetes.io/change-cause": "first",
	}
	for k, v := range wantAnn {
		if rs.Annotations[k] != v {
			t.Errorf("replicaset annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if _, ok := rs.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied-configuration copied to the replicaset")
	}

	got := e.get("web")
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q, want 1", got.Annotations[RevisionAnnotation])
	}
	s := got.Status
	if s.ObservedGeneration != got.Generation {
		t.Errorf("generation %d observed %d", got.Generation, s.ObservedGeneration)
	}
	if s.Replicas != 3 || s.UpdatedReplicas != 3 || s.ReadyReplicas != 3 || s.AvailableReplicas != 3 || s.UnavailableReplicas != 0 {
		t.Errorf("status %+v", s)
	}
	avail := getDeploymentCondition(s, appsv1.DeploymentAvailable)
	if avail == nil || avail.Status != corev1.ConditionTrue || avail.Reason != "MinimumReplicasAvailable" || avail.Message != "Deployment has minimum availability." {
		t.Errorf("Available condition %+v", avail)
	}
	prog := getDeploymentCondition(s, appsv1.DeploymentProgressing)
	wantMsg := fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name)
	if prog == nil || prog.Status != corev1.ConditionTrue || prog.Reason != "NewReplicaSetAvailable" || prog.Message != wantMsg {
		t.Errorf("Progressing condition %+v, want message %s", prog, wantMsg)
	}
	if !e.hasEvent("Normal ScalingReplicaSet Scaled up replica set " + rs.Name + " from 0 to 3") {
		t.Errorf("no scale-up event; events: %q", e.events)
	}

	// A steady deployment: more passes write nothing.
	rv := e.get("web").ResourceVersion
	rsRV := e.newReplicaSet("web").ResourceVersion
	e.sync("web")
	e.sync("web")
	if e.get("web").ResourceVersion != rv || e.newReplicaSet("web").ResourceVersion != rsRV {
		t.Error("a pass over a complete deployment wrote")
	}
}

// TestDeploymentRollingUpdateSteps rolls a new image out for several sizes
// and strategies, the ReplicaSet controller simulated so that new pods
// become available only after a pass and removed pods were available
// ones. At every step no more than replicas+maxSurge pods may be asked
// for, and at least replicas-maxUnavailable must be available.
func TestDeploymentRollingUpdateSteps(t *testing.T) {
	strategies := []struct {
		name               string
		surge, unavailable intstr.IntOrString
	}{
		{"default 25%/25%", intstr.FromString("25%"), intstr.FromString("25%")},
		{"surge 1 unavailable 0", intstr.FromInt32(1), intstr.FromInt32(0)},
		{"surge 0 unavailable 1", intstr.FromInt32(0), intstr.FromInt32(1)},
		{"surge 50% unavailable 30%", intstr.FromString("50%"), intstr.FromString("30%")},
		{"surge 0% unavailable 10%", intstr.FromString("0%"), intstr.FromString("10%")},
	}
	for _, replicas := range []int32{1, 3, 4, 10} {
		for _, st := range strategies {
			t.Run(fmt.Sprintf("%d replicas %s", replicas, st.name), func(t *testing.T) {
				e := newDepEnv(t)
				d := e.create(depTestDeployment("web", replicas, "app:v1"), withStrategy(st.surge, st.unavailable))
				e.rollOut("web", func(string) {})
				surge, unavailable := depMaxSurge(d), depMaxUnavailable(d)

				e.setImage("web", "app:v2")
				var peak int32
				e.rollOut("web", func(step string) {
					spec, pods, available := e.totals("web")
					peak = max(peak, spec)
					if spec > replicas+surge || pods > replicas+surge {
						t.Fatalf("%s: %d pods asked for, %d present; at most %d+%d allowed\n%s", step, spec, pods, replicas, surge, e.describe("web"))
					}
					if available < replicas-unavailable {
						t.Fatalf("%s: %d available; at least %d-%d required\n%s", step, available, replicas, unavailable, e.describe("web"))
					}
				})
				if surge > 0 && peak != replicas+surge {
					t.Errorf("the rollout never used its surge: peak %d, want %d", peak, replicas+surge)
				}
				rss := e.replicaSets("web")
				if len(rss) != 2 {
					t.Fatalf("want 2 replicasets, got %d\n%s", len(rss), e.describe("web"))
				}
				if rss[0].Annotations[RevisionAnnotation] != "1" || rss[1].Annotations[RevisionAnnotation] != "2" ||
					e.get("web").Annotations[RevisionAnnotation] != "2" {
					t.Errorf("revisions: %s", e.describe("web"))
				}
				if !e.hasEvent("Scaled down replica set " + rss[0].Name + " from " + fmt.Sprint(replicas) + " to ") {
					t.Errorf("no scale-down event for %s: %q", rss[0].Name, e.events)
				}
			})
		}
	}
}

// TestDeploymentRollingUpdateFirstSteps checks Kubernetes' exact first
// steps for 10 replicas at 25%/25% (surge 3, unavailable 2).
func TestDeploymentRollingUpdateFirstSteps(t *testing.T) {
	e := newDepEnv(t)
	e.create(depTestDeployment("web", 10, "app:v1"))
	e.rollOut("web", func(string) {})
	old := e.newReplicaSet("web")
	e.setImage("web", "app:v2")

	e.sync("web") // the new ReplicaSet at the surge: 3
	nrs := e.newReplicaSet("web")
	if nrs == nil || *nrs.Spec.Replicas != 3 {
		t.Fatalf("new replicaset after the first pass: %s", e.describe("web"))
	}
	if !e.hasEvent("Scaled up replica set " + nrs.Name + " from 0 to 3") {
		t.Errorf("events %q", e.events)
	}
	e.sync("web") // no new pod available: old down by maxUnavailable only
	if got := *e.replicaSets("web")[0].Spec.Replicas; got != 8 {
		t.Fatalf("old replicaset at %d, want 8\n%s", got, e.describe("web"))
	}
	if !e.hasEvent("Scaled down replica set " + old.Name + " from 10 to 8") {
		t.Errorf("events %q", e.events)
	}
	e.sync("web") // back up to the surge: new 5
	if got := *e.newReplicaSet("web").Spec.Replicas; got != 5 {
		t.Fatalf("new replicaset at %d, want 5\n%s", got, e.describe("web"))
	}
	e.sync("web") // nothing else until pods move
	if spec, _, _ := e.totals("web"); spec != 13 {
		t.Fatalf("total %d, want 13\n%s", spec, e.describe("web"))
	}
	d := e.get("web")
	if c := getDeploymentCondition(d.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != "ReplicaSetUpdated" && c.Reason != "NewReplicaSetCreated" {
		t.Errorf("Progressing during the rollout: %+v", c)
	}
}

// TestDeploymentRecreate scales the old ReplicaSet to zero, waits for its
// pods to be gone, and only then creates the new one at full size.
func TestDeploymentRecreate(t *testing.T) {
	e := newDepEnv(t)
	e.create(depTestDeployment("web", 3, "app:v1"), func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	})
	e.rollOut("web", func(string) {})
	old := e.newReplicaSet("web")
	// One pod of the old ReplicaSet exists in the store.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: old.Name + "-abcde", Namespace: "default", Labels: old.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: old.Spec.Template.Spec,
	}
	if _, err := e.cs.CoreV1().Pods("default").Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	e.setImage("web", "app:v2")
	e.sync("web")
	if got := *e.replicaSets("web")[0].Spec.Replicas; got != 0 {
		t.Fatalf("old replicaset not scaled to 0: %d", got)
	}
	if !e.hasEvent("Scaled down replica set " + old.Name + " from 3 to 0") {
		t.Errorf("events %q", e.events)
	}
	e.sync("web")
	if n := len(e.replicaSets("web")); n != 1 {
		t.Fatalf("new replicaset created while old pods run (status): %s", e.describe("web"))
	}
	e.podsCreated("web") // the old ReplicaSet reports no pods, but one is still stored
	e.sync("web")
	if n := len(e.replicaSets("web")); n != 1 {
		t.Fatalf("new replicaset created while an old pod is stored: %s", e.describe("web"))
	}
	if err := e.cs.CoreV1().Pods("default").Delete(e.ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.sync("web")
	nrs := e.newReplicaSet("web")
	if nrs == nil || *nrs.Spec.Replicas != 3 {
		t.Fatalf("new replicaset not created at full size: %s", e.describe("web"))
	}
	e.rollOut("web", func(step string) {
		var active int
		for _, rs := range e.replicaSets("web") {
			if *rs.Spec.Replicas > 0 {
				active++
			}
		}
		if active > 1 {
			t.Fatalf("%s: old and new replicas at once\n%s", step, e.describe("web"))
		}
	})
}

// kubectlUndoPatch is the JSON patch kubectl rollout undo sends: the old
// ReplicaSet's template without its hash label (creationTimestamp: null
// included) and the deployment's annotations.
func kubectlUndoPatch(t *testing.T, rs *appsv1.ReplicaSet, annotations map[string]string) []byte {
	t.Helper()
	raw, err := json.Marshal(rs.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	meta := tmpl["metadata"].(map[string]any)
	delete(meta["labels"].(map[string]any), appsv1.DefaultDeploymentUniqueLabelKey)
	meta["creationTimestamp"] = nil
	patch := []map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	}
	b, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"creationTimestamp":null`) {
		t.Fatalf("patch lacks creationTimestamp null: %s", b)
	}
	return b
}

// TestDeploymentRollback: putting revision 1's template back revives its
// ReplicaSet as revision 3 (history 1) instead of making a new one.
func TestDeploymentRollback(t *testing.T) {
	e := newDepEnv(t)
	e.create(depTestDeployment("web", 4, "app:v1"))
	e.rollOut("web", func(string) {})
	e.setImage("web", "app:v2")
	e.rollOut("web", func(string) {})
	rss := e.replicaSets("web")
	if len(rss) != 2 {
		t.Fatalf("want 2 replicasets: %s", e.describe("web"))
	}
	v1, v2 := rss[0], rss[1]

	patch := kubectlUndoPatch(t, v1, map[string]string{RevisionAnnotation: "2"})
	if _, err := e.cs.AppsV1().Deployments("default").Patch(e.ctx, "web", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("undo patch: %v", err)
	}
	e.rollOut("web", func(string) {})

	rss = e.replicaSets("web")
	if len(rss) != 2 {
		t.Fatalf("rollback made a new replicaset: %s", e.describe("web"))
	}
	byName := map[string]*appsv1.ReplicaSet{rss[0].Name: rss[0], rss[1].Name: rss[1]}
	revived, retired := byName[v1.Name], byName[v2.Name]
	if revived == nil || retired == nil {
		t.Fatalf("replicasets changed names: %s", e.describe("web"))
	}
	if revived.Annotations[RevisionAnnotation] != "3" || revived.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("revived replicaset annotations %v", revived.Annotations)
	}
	if *revived.Spec.Replicas != 4 || *retired.Spec.Replicas != 0 {
		t.Errorf("sizes after rollback: %s", e.describe("web"))
	}
	if got := e.get("web").Annotations[RevisionAnnotation]; got != "3" {
		t.Errorf("deployment revision %q, want 3", got)
	}
	if c := getDeploymentCondition(e.get("web").Status, appsv1.DeploymentProgressing); c == nil || c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", v1.Name) {
		t.Errorf("Progressing after rollback: %+v", c)
	}
}

// TestDeploymentRevisionHistoryLimit keeps only the newest old
// ReplicaSets.
func TestDeploymentRevisionHistoryLimit(t *testing.T) {
	e := newDepEnv(t)
	e.create(depTestDeployment("web", 2, "app:v1"), func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](2) })
	e.rollOut("web", func(string) {})
	for v := 2; v <= 6; v++ {
		e.setImage("web", fmt.Sprintf("app:v%d", v))
		e.rollOut("web", func(string) {})
		e.sync("web") // the pass after completion cleans up
	}
	rss := e.replicaSets("web")
	var revs []string
	for _, rs := range rss {
		revs = append(revs, rs.Annotations[RevisionAnnotation]+"="+rs.Spec.Template.Spec.Containers[0].Image)
	}
	if got, want := strings.Join(revs, " "), "4=app:v4 5=app:v5 6=app:v6"; got != want {
		t.Errorf("replicasets kept %q, want %q", got, want)
	}

	// A limit of 0 keeps none.
	e.update("web", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](0) })
	e.rollOut("web", func(string) {})
	e.sync("web")
	if n := len(e.replicaSets("web")); n != 1 {
		t.Errorf("limit 0 kept %d replicasets: %s", n, e.describe("web"))
	}
}

// TestDeploymentScaleDuringRollout scales proportionally mid-rollout and
// then finishes at the new size.
func TestDeploymentScaleDuringRollout(t *testing.T) {
	e := newDepEnv(t)
	e.create(depTestDeployment("web", 10, "app:v1"))
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
	e.create(depTestDeployment("web", 3, "app:v1"))
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
	e.create(depTestDeployment("web", 2, "app:v1"), func(d *appsv1.Deployment) { d.Spec.ProgressDeadlineSeconds = ptr.To[int32](30) })
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
	e.clock.Advance(20 * time.Second)
	e.sync("web")
	if c := progressing(); c.Status != corev1.ConditionTrue {
		t.Fatalf("timed out early: %+v", c)
	}
	e.clock.Advance(15 * time.Second)
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
	if _, err := e.cs.AppsV1().Deployments("default").Patch(e.ctx, "web", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
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
	d := depTestDeployment("web", 2, "app:v1")
	// The orphan is what a deleted deployment (orphan propagation) left.
	tmpl := d.Spec.Template.DeepCopy()
	hash := ComputePodTemplateHash(tmpl, nil)
	tmpl.Labels = depCloneAndAddLabel(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", Labels: tmpl.Labels,
			Annotations: map[string]string{RevisionAnnotation: "4"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: *tmpl,
		},
	}
	if _, err := e.cs.AppsV1().ReplicaSets("default").Create(e.ctx, orphan, metav1.CreateOptions{}); err != nil {
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
	if _, err := e.cs.AppsV1().ReplicaSets("default").Update(e.ctx, rs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync("web")
	got, err := e.cs.AppsV1().ReplicaSets("default").Get(e.ctx, rs.Name, metav1.GetOptions{})
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
	d := e.create(depTestDeployment("web", 1, "app:v1"))
	hash := ComputePodTemplateHash(&d.Spec.Template, nil)
	other := depTestDeployment("x", 1, "other:v1").Spec.Template
	other.Labels = map[string]string{"app": "x", appsv1.DefaultDeploymentUniqueLabelKey: hash}
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", Labels: other.Labels},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: other.Labels}, Template: other},
	}
	if _, err := e.cs.AppsV1().ReplicaSets("default").Create(e.ctx, squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.syncKey(e.ctx, "default/web"); err == nil {
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
	e.create(depTestDeployment("web", 2, "app:v1"))
	e.rollOut("web", func(string) {})
	patch := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2030-01-02T03:04:05Z"}}}}}`
	if _, err := e.cs.AppsV1().Deployments("default").Patch(e.ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.rollOut("web", func(string) {})
	if n := len(e.replicaSets("web")); n != 2 {
		t.Errorf("restart made %d replicasets", n)
	}
}

// TestDeploymentRunLoop runs the controller's own loop (watches, queue,
// workers) against a simulated ReplicaSet controller, then a second
// controller as after a leader change: it must pick up where the first
// stopped and make no duplicate ReplicaSet.
func TestDeploymentRunLoop(t *testing.T) {
	e := newDepEnv(t)
	e.deps.Now = nil
	go e.simulateReplicaSets(e.ctx)

	run := func() (stop func()) {
		c := NewDeploymentController(e.deps, WithDeploymentResync(200*time.Millisecond))
		ctx, cancel := context.WithCancel(e.ctx)
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
	e.create(depTestDeployment("web", 4, "app:v1"))
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
		evs, err := e.cs.CoreV1().Events("default").List(e.ctx, metav1.ListOptions{})
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
func (e *depEnv) simulateReplicaSets(ctx context.Context) {
	w, err := e.store.Watch(depResReplicaSets, "", 0)
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
		list, err := e.cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
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
			_, _ = e.cs.AppsV1().ReplicaSets("default").UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		}
	}
}
