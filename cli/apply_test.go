package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const appV1 = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: Namespace
metadata:
  name: x
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runApply(t *testing.T, f *fakeAPI, files ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cl := f.clients(t, &out, &errb)
	err = cl.apply(context.Background(), applyOptions{Files: files})
	return out.String(), errb.String(), err
}

func TestApplyCreateUnchangedConfigured(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	app := writeFile(t, dir, "app.yaml", appV1)

	out, stderr, err := runApply(t, f, app)
	if err != nil {
		t.Fatalf("first apply: %v\n%s", err, stderr)
	}
	want := "deployment.apps/web created\nservice/web created\nnamespace/x created\n"
	if out != want {
		t.Fatalf("first apply printed\n%s\nwant\n%s", out, want)
	}
	// The POST carries the manifest, its namespace, and the annotation
	// holding the manifest as compact JSON plus "\n".
	w := f.writes()
	if len(w) != 3 || w[0].Method != "POST" || w[0].Path != "/apis/apps/v1/namespaces/default/deployments" {
		t.Fatalf("writes = %+v", w)
	}
	if !strings.Contains(w[0].Query, "fieldManager=kubectl-client-side-apply") {
		t.Errorf("POST query %q lacks the field manager", w[0].Query)
	}
	if w[2].Path != "/api/v1/namespaces" {
		t.Errorf("namespace POSTed to %s, want the cluster-scoped path", w[2].Path)
	}
	dep := f.get(findResource("apps", "deployments"), "default", "web")
	last := dep["metadata"].(map[string]interface{})["annotations"].(map[string]interface{})["kubectl.kubernetes.io/last-applied-configuration"].(string)
	wantLast := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx:1.25","name":"web"}]}}}}` + "\n"
	if last != wantLast {
		t.Errorf("last-applied =\n%q\nwant\n%q", last, wantLast)
	}

	// The same file again: nothing to patch, no writes.
	f.resetRequests()
	out, _, err = runApply(t, f, app)
	if err != nil {
		t.Fatal(err)
	}
	if want := "deployment.apps/web unchanged\nservice/web unchanged\nnamespace/x unchanged\n"; out != want {
		t.Fatalf("second apply printed\n%s\nwant\n%s", out, want)
	}
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("unchanged apply wrote %+v", w)
	}

	// replicas 2 -> 3, image 1.25 -> 1.26: a strategic merge patch like
	// kubectl's, with $setElementOrder for the containers.
	app2 := writeFile(t, dir, "app2.yaml", strings.NewReplacer("replicas: 2", "replicas: 3", "nginx:1.25", "nginx:1.26").Replace(appV1))
	out, _, err = runApply(t, f, app2)
	if err != nil {
		t.Fatal(err)
	}
	if want := "deployment.apps/web configured\nservice/web unchanged\nnamespace/x unchanged\n"; out != want {
		t.Fatalf("third apply printed\n%s\nwant\n%s", out, want)
	}
	w = f.writes()
	if len(w) != 1 || w[0].Method != "PATCH" || w[0].ContentType != "application/strategic-merge-patch+json" {
		t.Fatalf("writes = %+v", w)
	}
	var patch map[string]interface{}
	if err := json.Unmarshal([]byte(w[0].Body), &patch); err != nil {
		t.Fatal(err)
	}
	spec := patch["spec"].(map[string]interface{})
	if spec["replicas"] != 3.0 {
		t.Errorf("patch replicas = %v", spec["replicas"])
	}
	if !strings.Contains(w[0].Body, `"$setElementOrder/containers":[{"name":"web"}]`) || !strings.Contains(w[0].Body, `"image":"nginx:1.26"`) {
		t.Errorf("patch body %s lacks the container change", w[0].Body)
	}
	dep = f.get(findResource("apps", "deployments"), "default", "web")
	c := dep["spec"].(map[string]interface{})["template"].(map[string]interface{})["spec"].(map[string]interface{})["containers"].([]interface{})
	if len(c) != 1 || c[0].(map[string]interface{})["image"] != "nginx:1.26" {
		t.Errorf("containers after patch = %v", c)
	}
}

func TestApplyRemovesFieldsDroppedFromManifest(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	withLabel := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {a: b}\ndata:\n  k: v\n  old: x\n"
	if _, _, err := runApply(t, f, writeFile(t, dir, "a.yaml", withLabel)); err != nil {
		t.Fatal(err)
	}
	// A field the server added must survive; fields dropped from the
	// manifest must go.
	cm := f.get(findResource("", "configmaps"), "default", "cfg")
	cm["data"].(map[string]interface{})["server"] = "kept"
	f.resetRequests()
	out, _, err := runApply(t, f, writeFile(t, dir, "b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  k: v\n"))
	if err != nil || out != "configmap/cfg configured\n" {
		t.Fatalf("apply: %q, %v", out, err)
	}
	cm = f.get(findResource("", "configmaps"), "default", "cfg")
	data := cm["data"].(map[string]interface{})
	if _, ok := data["old"]; ok {
		t.Errorf("data.old survived: %v", data)
	}
	if data["server"] != "kept" || data["k"] != "v" {
		t.Errorf("data = %v", data)
	}
	if _, ok := cm["metadata"].(map[string]interface{})["labels"]; ok {
		t.Errorf("labels survived: %v", cm["metadata"])
	}
}

func TestApplyUnknownKindUsesMergePatch(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	if _, _, err := runApply(t, f, writeFile(t, dir, "w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n")); err != nil {
		t.Fatal(err)
	}
	f.resetRequests()
	out, _, err := runApply(t, f, writeFile(t, dir, "w2.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 2\n"))
	if err != nil || out != "widget.example.com/w configured\n" {
		t.Fatalf("apply: %q, %v", out, err)
	}
	if w := f.writes(); len(w) != 1 || w[0].ContentType != "application/merge-patch+json" {
		t.Fatalf("writes = %+v", w)
	}
}

func TestApplyErrorNamesFileAndContinues(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	bad := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  replicas: -1
---
apiVersion: v1
kind: Service
metadata:
  name: after
---
apiVersion: nope/v1
kind: Gadget
metadata:
  name: g
`
	app := writeFile(t, dir, "app.yaml", bad)
	out, stderr, err := runApply(t, f, app)
	if !errors.Is(err, ErrReported) {
		t.Fatalf("err = %v, want ErrReported", err)
	}
	if out != "service/after created\n" {
		t.Errorf("stdout = %q", out)
	}
	want := `Error from server (Invalid): error when creating "` + app + `": Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`
	if !strings.Contains(stderr, want+"\n") {
		t.Errorf("stderr =\n%s\nwant a line\n%s", stderr, want)
	}
	if !strings.Contains(stderr, `error: resource mapping not found for name: "g" namespace: "" from "`+app+`"`) {
		t.Errorf("stderr lacks the mapping error:\n%s", stderr)
	}
}

func TestApplyNamespaceMismatch(t *testing.T) {
	f := newFakeAPI(t)
	var out, errb bytes.Buffer
	cl := f.clients(t, &out, &errb)
	cl.namespace, cl.explicitNS = "other", true
	m := manifest{source: "m.yaml"}
	objs, err := decodeManifests(strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: prod}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m.obj = objs[0].obj
	if _, err := cl.applyOne(context.Background(), m); err == nil || !strings.Contains(err.Error(), "--namespace=prod") {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyOptionsValidate(t *testing.T) {
	o := applyOptions{}
	if err := o.Validate(); err == nil {
		t.Fatal("no -f accepted")
	}
	o.Files = []string{"-"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}
