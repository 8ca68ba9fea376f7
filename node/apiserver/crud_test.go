package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestUpdateGeneration(t *testing.T) {
	e := newTestEnv(t)
	deps := e.cs.AppsV1().Deployments("default")
	d, err := deps.Create(e.ctx, testDeployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", d.Generation)
	}
	steps := []struct {
		name   string
		change func(d *appsv1.Deployment)
		want   int64
	}{
		{"label change keeps generation", func(d *appsv1.Deployment) { d.Labels["extra"] = "x" }, 1},
		{"replicas change bumps", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) }, 2},
		{"no change keeps", func(d *appsv1.Deployment) {}, 2},
		{"image change bumps", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.26" }, 3},
		{"client generation is ignored", func(d *appsv1.Deployment) { d.Generation = 42 }, 3},
		// As in Kubernetes: a Deployment's annotations are copied to its
		// ReplicaSets, so changing them is a new generation.
		{"annotation change bumps", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"team": "blue"} }, 4},
		{"same annotations keep", func(d *appsv1.Deployment) {}, 4},
	}
	for _, s := range steps {
		s.change(d)
		d, err = deps.Update(e.ctx, d, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Generation != s.want {
			t.Errorf("%s: generation %d, want %d", s.name, d.Generation, s.want)
		}
	}
}

func TestStatusSubresource(t *testing.T) {
	e := newTestEnv(t)
	deps := e.cs.AppsV1().Deployments("default")
	d, err := deps.Create(e.ctx, testDeployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A status update changes only the status, whatever else it carries.
	d.Status.Replicas, d.Status.ObservedGeneration = 2, 1
	d.Spec.Replicas = ptr.To[int32](9)
	d.Labels["sneaky"] = "yes"
	got, err := deps.UpdateStatus(e.ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 2 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status not stored: %+v", got.Status)
	}
	if *got.Spec.Replicas != 2 || got.Labels["sneaky"] != "" || got.Generation != 1 {
		t.Errorf("status update changed more than status: replicas %d labels %v generation %d", *got.Spec.Replicas, got.Labels, got.Generation)
	}
	// A main update keeps the stored status.
	got.Status.Replicas = 0
	got.Spec.Replicas = ptr.To[int32](3)
	got, err = deps.Update(e.ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 2 || *got.Spec.Replicas != 3 {
		t.Errorf("main update: status.replicas %d (want 2 kept), spec.replicas %d (want 3)", got.Status.Replicas, *got.Spec.Replicas)
	}
}

func TestDeletePropagation(t *testing.T) {
	e := newTestEnv(t)
	deps := e.cs.AppsV1().Deployments("default")
	tests := []struct {
		name      string
		policy    metav1.DeletionPropagation
		finalizer string
	}{
		{"orphan", metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
		{"fg", metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
	}
	for _, tt := range tests {
		name := tt.name
		if _, err := deps.Create(e.ctx, testDeployment(name, 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(metav1.DeleteOptions{PropagationPolicy: &tt.policy})
		rep := e.do("DELETE", "/apis/apps/v1/namespaces/default/deployments/"+name, "application/json", body)
		if rep.code != http.StatusOK {
			t.Errorf("%s delete: HTTP %d, want 200: %s", tt.policy, rep.code, rep.body)
		}
		var answered appsv1.Deployment
		if err := json.Unmarshal(rep.body, &answered); err != nil || answered.DeletionTimestamp == nil {
			t.Errorf("%s delete answered %s, want the object marked for deletion", tt.policy, rep.body)
		}
		got, err := deps.Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: object gone after delete: %v", tt.policy, err)
		}
		if got.DeletionTimestamp == nil || !slices.Contains(got.Finalizers, tt.finalizer) {
			t.Errorf("%s: deletionTimestamp %v finalizers %v, want %s", tt.policy, got.DeletionTimestamp, got.Finalizers, tt.finalizer)
		}
		// Removing the finalizer (the garbage collector's job) removes it.
		got.Finalizers = nil
		if _, err := deps.Update(e.ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := deps.Get(e.ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: after the last finalizer went: %v, want NotFound", tt.policy, err)
		}
	}

	// Background deletes at once; a second delete is NotFound.
	if _, err := deps.Create(e.ctx, testDeployment("bg", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bg := metav1.DeletePropagationBackground
	if err := deps.Delete(e.ctx, "bg", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	err := deps.Delete(e.ctx, "bg", metav1.DeleteOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `deployments.apps "bg" not found` {
		t.Errorf("second delete: %v, want deployments.apps \"bg\" not found", err)
	}
	rep := e.do("DELETE", "/apis/apps/v1/namespaces/default/deployments/x", "application/json", []byte(`{"propagationPolicy":"Sideways"}`))
	e.status(rep, 400)
}

func TestDeleteCollection(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	for _, n := range []string{"a1", "a2", "b1"} {
		cm := testConfigMap(n, map[string]string{"group": n[:1]})
		if _, err := cms.Create(e.ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cs.CoreV1().ConfigMaps("kube-system").Create(e.ctx, testConfigMap("a3", map[string]string{"group": "a"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.DeleteCollection(e.ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=a"}); err != nil {
		t.Fatal(err)
	}
	if got := e.names("/api/v1/namespaces/default/configmaps"); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("default after deletecollection: %v, want [b1]", got)
	}
	if got := e.names("/api/v1/namespaces/kube-system/configmaps"); !slices.Equal(got, []string{"a3"}) {
		t.Errorf("kube-system after deletecollection in default: %v, want [a3]", got)
	}
}

func TestDeleteNamespace(t *testing.T) {
	e := newTestEnv(t)
	nss := e.cs.CoreV1().Namespaces()
	if _, err := nss.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := e.do("DELETE", "/api/v1/namespaces/doomed", "application/json", []byte(`{"propagationPolicy":"Background"}`))
	if rep.code != http.StatusOK {
		t.Fatalf("delete namespace: %d %s", rep.code, rep.body)
	}
	ns, err := nss.Get(e.ctx, "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace gone at once, want it kept for the namespace controller: %v", err)
	}
	if ns.DeletionTimestamp == nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("deleted namespace: deletionTimestamp %v phase %q, want Terminating", ns.DeletionTimestamp, ns.Status.Phase)
	}
	_, err = e.cs.CoreV1().ConfigMaps("doomed").Create(e.ctx, testConfigMap("late", nil), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: %v, want Forbidden", err)
	}
}

// TestDynamicClient does what `kubectl apply` does for a new object: JSON
// through the dynamic client, with fieldValidation=Strict.
func TestDynamicClient(t *testing.T) {
	e := newTestEnv(t)
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	var u unstructured.Unstructured
	manifest := deploymentJSON("web", "2", "web")
	if err := u.UnmarshalJSON([]byte(manifest)); err != nil {
		t.Fatal(err)
	}
	u.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": manifest + "\n"})
	res := e.dyn.Resource(gvr).Namespace("default")
	created, err := res.Create(e.ctx, &u, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply", FieldValidation: "Strict"})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetUID() == "" || created.GetGeneration() != 1 || created.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"] == "" {
		t.Errorf("created %v", created.Object["metadata"])
	}
	if typ, _, _ := unstructured.NestedString(created.Object, "spec", "strategy", "type"); typ != "RollingUpdate" {
		t.Errorf("strategy type %q, want the RollingUpdate default", typ)
	}
	l, err := res.List(e.ctx, metav1.ListOptions{LabelSelector: "app notin (db)"})
	if err != nil || len(l.Items) != 1 || l.GetResourceVersion() == "" {
		t.Fatalf("list: %v %+v", err, l)
	}
	bg := metav1.DeletePropagationBackground
	if err := res.Delete(e.ctx, "web", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Get(e.ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

// A Deployment's status update also takes its annotations (Kubernetes'
// status strategy keeps only spec and labels), without a new generation:
// that is how the controller records revisions.
func TestStatusUpdateAnnotations(t *testing.T) {
	e := newTestEnv(t)
	deps := e.cs.AppsV1().Deployments("default")
	d, err := deps.Create(e.ctx, testDeployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
	d.Labels["sneaky"] = "yes"
	got, err := deps.UpdateStatus(e.ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations["deployment.kubernetes.io/revision"] != "1" || got.Generation != 1 || got.Labels["sneaky"] != "" {
		t.Errorf("deployment status update: annotations %v generation %d labels %v; want the revision, generation 1, no new label",
			got.Annotations, got.Generation, got.Labels)
	}
	// They are validated there as on any other write.
	got.Annotations["not a valid key!"] = "x"
	_, err = deps.UpdateStatus(e.ctx, got, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `metadata.annotations: Invalid value: "not a valid key!"`) {
		t.Errorf("status update with a bad annotation key: %v, want 422 on metadata.annotations", err)
	}
}
