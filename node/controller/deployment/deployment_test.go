package deployment

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestDeploymentCreateAndStatus: the first ReplicaSet, its name, labels,
// selector, owner and annotations, and the status kubectl rollout status
// and describe read once it is complete.
func TestDeploymentCreateAndStatus(t *testing.T) {
	e := newDepEnv(t)
	d := testDeployment("web", 3, "app:v1")
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
	// As in Kubernetes, recording the revision is no new generation.
	if got.Generation != 1 {
		t.Errorf("generation %d after the controller recorded revision 1, want 1", got.Generation)
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
				d := e.create(testDeployment("web", replicas, "app:v1"), withStrategy(st.surge, st.unavailable))
				e.rollOut("web", func(string) {})
				surge, unavailable := maxSurgeOf(d), maxUnavailableOf(d)

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
	e.create(testDeployment("web", 10, "app:v1"))
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
	e.create(testDeployment("web", 3, "app:v1"), func(d *appsv1.Deployment) {
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
	if _, err := e.CS.CoreV1().Pods("default").Create(e.Ctx, pod, metav1.CreateOptions{}); err != nil {
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
	if err := e.CS.CoreV1().Pods("default").Delete(e.Ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
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
