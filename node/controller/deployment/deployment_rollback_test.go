package deployment

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

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
	e.create(testDeployment("web", 4, "app:v1"))
	e.rollOut("web", func(string) {})
	e.setImage("web", "app:v2")
	e.rollOut("web", func(string) {})
	rss := e.replicaSets("web")
	if len(rss) != 2 {
		t.Fatalf("want 2 replicasets: %s", e.describe("web"))
	}
	v1, v2 := rss[0], rss[1]

	patch := kubectlUndoPatch(t, v1, map[string]string{RevisionAnnotation: "2"})
	if _, err := e.CS.AppsV1().Deployments("default").Patch(e.Ctx, "web", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
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
	e.create(testDeployment("web", 2, "app:v1"), func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](2) })
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
