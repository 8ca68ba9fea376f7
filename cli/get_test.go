package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/printers"
)

// podsTable is a Table as the API answers `get pods` (KUBECTL-WIRE.md §6).
const podsTable = `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"16"},
 "columnDefinitions":[
   {"name":"Name","type":"string","format":"name","description":"","priority":0},
   {"name":"Ready","type":"string","format":"","description":"","priority":0},
   {"name":"Status","type":"string","format":"","description":"","priority":0},
   {"name":"Restarts","type":"string","format":"","description":"","priority":0},
   {"name":"Age","type":"string","format":"","description":"","priority":0},
   {"name":"IP","type":"string","format":"","description":"","priority":1},
   {"name":"Node","type":"string","format":"","description":"","priority":1}],
 "rows":[
  {"cells":["kubernetes-bootcamp-0add7ab1a2-n9vvd","1/1","Running","0","3m","10.42.0.11","node-a"],
   "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"kubernetes-bootcamp-0add7ab1a2-n9vvd","namespace":"default","labels":{"app":"kubernetes-bootcamp","pod-template-hash":"0add7ab1a2"}}}},
  {"cells":["web","0/1","Pending","2","10s","<none>","<none>"],
   "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web","namespace":"prod"}}}]}`

func printTable(t *testing.T, raw string, opts printers.PrintOptions) string {
	t.Helper()
	obj, err := decodeTable([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := printers.GetNewTabWriter(&buf)
	if err := printers.NewTablePrinter(opts).PrintObj(obj, w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return buf.String()
}

func TestTablePrinting(t *testing.T) {
	pod := schema.GroupKind{Kind: "Pod"}
	for _, tc := range []struct {
		name string
		opts printers.PrintOptions
		want string
	}{
		{"plain", printers.PrintOptions{Kind: pod}, `
NAME                                   READY   STATUS    RESTARTS   AGE
kubernetes-bootcamp-0add7ab1a2-n9vvd   1/1     Running   0          3m
web                                    0/1     Pending   2          10s
`},
		{"wide", printers.PrintOptions{Kind: pod, Wide: true}, `
NAME                                   READY   STATUS    RESTARTS   AGE   IP           NODE
kubernetes-bootcamp-0add7ab1a2-n9vvd   1/1     Running   0          3m    10.42.0.11   node-a
web                                    0/1     Pending   2          10s   <none>       <none>
`},
		{"all namespaces, labels, kind", printers.PrintOptions{Kind: pod, WithNamespace: true, ShowLabels: true, WithKind: true}, `
NAMESPACE   NAME                                       READY   STATUS    RESTARTS   AGE   LABELS
default     pod/kubernetes-bootcamp-0add7ab1a2-n9vvd   1/1     Running   0          3m    app=kubernetes-bootcamp,pod-template-hash=0add7ab1a2
prod        pod/web                                    0/1     Pending   2          10s   <none>
`},
	} {
		got := printTable(t, podsTable, tc.opts)
		if want := strings.TrimPrefix(tc.want, "\n"); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, want)
		}
	}
}

func TestTablePrintingWithoutServerTable(t *testing.T) {
	// A server without Tables answers the plain list: NAME and AGE only.
	list := `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"p1","creationTimestamp":null}}]}`
	got := printTable(t, list, printers.PrintOptions{})
	if !strings.HasPrefix(got, "NAME   AGE\np1") {
		t.Errorf("got\n%s", got)
	}
}

// fakeServerApp is an App talking to the fake API server.
func fakeServerApp(t *testing.T) (*fakeAPI, *testApp, func(args ...string) error) {
	t.Helper()
	isolateKubeconfig(t)
	f := newFakeAPI(t)
	ta := newTestApp(t, Deps{})
	dataDir := t.TempDir()
	return f, ta, func(args ...string) error {
		ta.stdout.Reset()
		ta.stderr.Reset()
		return ta.run(append(args, "--server", f.srv.URL, "--data-dir", dataDir)...)
	}
}

func seed(f *fakeAPI) {
	dep := findResource("apps", "deployments")
	svc := findResource("", "services")
	pod := findResource("", "pods")
	f.put(dep, "default", map[string]interface{}{"metadata": map[string]interface{}{"name": "web", "labels": map[string]interface{}{"app": "web"}}, "spec": map[string]interface{}{"replicas": int64(1)}})
	f.put(svc, "default", map[string]interface{}{"metadata": map[string]interface{}{"name": "web", "labels": map[string]interface{}{"app": "web"}}})
	f.put(svc, "default", map[string]interface{}{"metadata": map[string]interface{}{"name": "kubernetes"}})
	f.put(pod, "prod", map[string]interface{}{"metadata": map[string]interface{}{"name": "p1"}})
}

func TestGetTables(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)

	if err := run("get", "deploy,svc"); err != nil {
		t.Fatal(err)
	}
	want := `NAME                  AGE
deployment.apps/web   5m

NAME                 AGE
service/kubernetes   5m
service/web          5m
`
	if got := ta.stdout.String(); got != want {
		t.Errorf("get deploy,svc:\n%s\nwant\n%s", got, want)
	}
	// Every Table request carries the Table Accept header.
	for _, r := range f.requests {
		if strings.HasSuffix(r.Path, "/deployments") && !strings.HasPrefix(r.Accept, "application/json;as=Table;v=v1;g=meta.k8s.io") {
			t.Errorf("Accept = %q", r.Accept)
		}
	}

	if err := run("get", "services", "-l", "app=web", "-o", "wide"); err != nil {
		t.Fatal(err)
	}
	if want := "NAME   AGE   KIND\nweb    5m    Service\n"; ta.stdout.String() != want {
		t.Errorf("get services -l app=web -o wide:\n%s", ta.stdout.String())
	}

	if err := run("get", "pods"); err != nil {
		t.Fatal(err)
	}
	if ta.stdout.String() != "" || ta.stderr.String() != "No resources found in default namespace.\n" {
		t.Errorf("empty get: stdout %q stderr %q", ta.stdout.String(), ta.stderr.String())
	}

	if err := run("get", "pods", "-A"); err != nil {
		t.Fatal(err)
	}
	if want := "NAMESPACE   NAME   AGE\nprod        p1     5m\n"; ta.stdout.String() != want {
		t.Errorf("get pods -A:\n%s", ta.stdout.String())
	}

	if err := run("get", "pods", "-n", "prod", "p1"); err != nil {
		t.Fatal(err)
	}
	if want := "NAME   AGE\np1     5m\n"; ta.stdout.String() != want {
		t.Errorf("get pods -n prod p1:\n%s", ta.stdout.String())
	}

	if err := run("get", "all"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"service/web", "deployment.apps/web"} {
		if !strings.Contains(ta.stdout.String(), want) {
			t.Errorf("get all lacks %s:\n%s", want, ta.stdout.String())
		}
	}
}

func TestGetErrors(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)
	err := run("get", "deployment", "nope")
	if code := ExitCode(err, &ta.stderr); code != 1 {
		t.Errorf("exit code %d", code)
	}
	if want := "Error from server (NotFound): deployments.apps \"nope\" not found\n"; ta.stderr.String() != want {
		t.Errorf("stderr = %q, want %q", ta.stderr.String(), want)
	}
	if err := run("get", "foos"); err == nil || !strings.Contains(err.Error(), `the server doesn't have a resource type "foos"`) {
		t.Errorf("err = %v", err)
	}
	if err := run("get", "pods", "-o", "toml"); err == nil || !strings.Contains(err.Error(), "toml") {
		t.Errorf("err = %v", err)
	}
}

func TestGetOutputFormats(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)

	if err := run("get", "deployments.apps/web", "-o", "name"); err != nil {
		t.Fatal(err)
	}
	if ta.stdout.String() != "deployment.apps/web\n" {
		t.Errorf("-o name: %q", ta.stdout.String())
	}

	if err := run("get", "svc", "-o", "name"); err != nil {
		t.Fatal(err)
	}
	if ta.stdout.String() != "service/kubernetes\nservice/web\n" {
		t.Errorf("-o name list: %q", ta.stdout.String())
	}

	if err := run("get", "deploy", "web", "-o", "yaml"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ta.stdout.String(), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n") {
		t.Errorf("-o yaml single:\n%s", ta.stdout.String())
	}

	if err := run("get", "svc", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion, Kind string
		Metadata         map[string]interface{}
		Items            []struct{ Kind, APIVersion string }
	}
	if err := json.Unmarshal(ta.stdout.Bytes(), &list); err != nil {
		t.Fatalf("%v\n%s", err, ta.stdout.String())
	}
	if list.Kind != "List" || list.APIVersion != "v1" || len(list.Items) != 2 || list.Items[0].Kind != "Service" || list.Items[0].APIVersion != "v1" {
		t.Errorf("-o json list = %+v", list)
	}
	if !strings.Contains(ta.stdout.String(), "\n    \"items\": [") {
		t.Errorf("json not indented like kubectl's:\n%s", ta.stdout.String())
	}
}
