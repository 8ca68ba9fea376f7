package apiserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// manifests a user writes by hand: no resourceVersion, uid, generation or
// creationTimestamp.
const (
	secretPath = "/api/v1/namespaces/default/secrets"

	cmManifest     = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"conf","labels":{"app":"web"}},"data":{"greeting":"%s"}}`
	secretManifest = `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"token"},"type":"Opaque","stringData":{"token":"%s"}}`
)

// objectAt GETs path and decodes the answer.
func (e *testEnv) objectAt(path string) map[string]any {
	e.t.Helper()
	rep := e.do("GET", path, "", nil)
	if rep.code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rep.code, rep.body)
	}
	return decodeMap(e.t, rep.body)
}

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// metaOf reads metadata.<field> of a decoded object ("" when absent).
func metaOf(obj map[string]any, field string) string {
	md, _ := obj["metadata"].(map[string]any)
	switch v := md[field].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func fill(format, v string) string { return strings.Replace(format, "%s", v, 1) }

// TestUpdateRules checks the update rules table by table: each case creates
// its object, sends one PUT or PATCH as a client would, and compares what
// the API answered and what it stored with the object as first created.
func TestUpdateRules(t *testing.T) {
	const deploymentBase = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"%s},
	"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
	"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"%s"}]}}}}`
	deployment := func(image, extraMeta string) string {
		return strings.Replace(strings.Replace(deploymentBase, "%s", extraMeta, 1), "%s", image, 1)
	}
	tests := []struct {
		name      string
		path      string // the collection
		create    string // the object as first created
		method    string
		query     string
		ctype     string
		body      func(created map[string]any) string // what the client sends
		code      int
		wantField string // a 4xx must name this field
		// Expectations on the answer (a 2xx) relative to the created object.
		sameRV, sameGeneration, bumpGeneration bool
		stored                                 func(t *testing.T, created, answer, stored map[string]any)
	}{
		{
			name: "ConfigMap PUT without resourceVersion", path: cmPath, create: fill(cmManifest, "hello"),
			method: "PUT", body: func(map[string]any) string { return fill(cmManifest, "bonjour") },
			code: 200, sameGeneration: true,
			stored: wantData("greeting", "bonjour"),
		},
		{
			name: "Secret PUT without resourceVersion", path: secretPath, create: fill(secretManifest, "one"),
			method: "PUT", body: func(map[string]any) string { return fill(secretManifest, "two") },
			code: 200, sameGeneration: true,
			stored: wantData("token", "dHdv"),
		},
		{
			name: "Deployment PUT without resourceVersion, spec unchanged, label added", path: deployPath,
			create: deployment("nginx:1.25", ""),
			method: "PUT", body: func(map[string]any) string { return deployment("nginx:1.25", `,"labels":{"team":"blue"}`) },
			code: 200, sameGeneration: true,
		},
		{
			name: "Deployment PUT without resourceVersion, spec changed", path: deployPath,
			create: deployment("nginx:1.25", ""),
			method: "PUT", body: func(map[string]any) string { return deployment("nginx:1.26", "") },
			code: 200, bumpGeneration: true,
		},
		{
			name: "Deployment PUT with the current resourceVersion", path: deployPath,
			create: deployment("nginx:1.25", ""),
			method: "PUT", body: func(c map[string]any) string {
				return deployment("nginx:1.26", `,"resourceVersion":"`+metaOf(c, "resourceVersion")+`"`)
			},
			code: 200, bumpGeneration: true,
		},
		{
			name: "PUT with a stale resourceVersion is a conflict", path: cmPath, create: fill(cmManifest, "hello"),
			method: "PUT", body: func(c map[string]any) string {
				return strings.Replace(fill(cmManifest, "late"), `"name":"conf"`, `"name":"conf","resourceVersion":"1"`, 1)
			},
			code: 409,
		},
		{
			name: "PUT changing uid is refused", path: cmPath, create: fill(cmManifest, "hello"),
			method: "PUT", body: func(map[string]any) string {
				return strings.Replace(fill(cmManifest, "x"), `"name":"conf"`, `"name":"conf","uid":"6a3c1e0e-0000-4000-8000-000000000000"`, 1)
			},
			code: 422, wantField: "metadata.uid",
		},
		{
			name: "PUT cannot move creationTimestamp or generation", path: deployPath,
			create: deployment("nginx:1.25", ""),
			method: "PUT", body: func(map[string]any) string {
				return deployment("nginx:1.25", `,"creationTimestamp":"2001-01-01T00:00:00Z","generation":40`)
			},
			code: 200, sameGeneration: true,
		},
		{
			name: "dryRun=All PUT without resourceVersion", path: deployPath,
			create: deployment("nginx:1.25", ""),
			method: "PUT", query: "?dryRun=All", body: func(map[string]any) string { return deployment("nginx:1.26", "") },
			code: 200, sameRV: true, bumpGeneration: true,
			stored: wantUnchanged,
		},
		{
			name: "dryRun=All PATCH changing spec", path: deployPath,
			create: deployment("nginx:1.25", ""), ctype: "application/strategic-merge-patch+json",
			method: "PATCH", query: "?dryRun=All", body: func(map[string]any) string {
				return `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}`
			},
			code: 200, sameRV: true, bumpGeneration: true,
			stored: wantUnchanged,
		},
		{
			name: "dryRun=All PATCH changing nothing answers the stored object", path: deployPath,
			create: deployment("nginx:1.25", ""), ctype: "application/merge-patch+json",
			method: "PATCH", query: "?dryRun=All", body: func(map[string]any) string { return `{"spec":{"replicas":2}}` },
			code: 200, sameRV: true, sameGeneration: true,
			stored: func(t *testing.T, _, answer, stored map[string]any) {
				if !reflect.DeepEqual(answer, stored) {
					t.Errorf("dry-run answer differs from the stored object:\n%v\n%v", answer, stored)
				}
			},
		},
		{
			name: "PATCH changing metadata only keeps generation", path: deployPath,
			create: deployment("nginx:1.25", ""), ctype: "application/merge-patch+json",
			method: "PATCH", body: func(map[string]any) string { return `{"metadata":{"labels":{"team":"red"}}}` },
			code: 200, sameGeneration: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			rep := e.do("POST", tt.path, "application/json", []byte(tt.create))
			if rep.code != http.StatusCreated {
				t.Fatalf("create: %d %s", rep.code, rep.body)
			}
			created := decodeMap(t, rep.body)
			name := metaOf(created, "name")
			ctype := tt.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			rep = e.do(tt.method, tt.path+"/"+name+tt.query, ctype, []byte(tt.body(created)))
			if rep.code != tt.code {
				t.Fatalf("%s: HTTP %d, want %d: %s", tt.method, rep.code, tt.code, rep.body)
			}
			stored := e.objectAt(tt.path + "/" + name)
			if tt.code >= 400 {
				st := e.status(rep, tt.code)
				if tt.wantField != "" && (st.Details == nil || !slices.ContainsFunc(st.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == tt.wantField })) {
					t.Errorf("the %d does not name %s: %s", tt.code, tt.wantField, rep.body)
				}
				if metaOf(stored, "resourceVersion") != metaOf(created, "resourceVersion") {
					t.Errorf("a refused write changed the object: %v", stored)
				}
				return
			}
			answer := decodeMap(t, rep.body)
			for _, f := range []string{"uid", "creationTimestamp"} {
				if metaOf(answer, f) != metaOf(created, f) || metaOf(stored, f) != metaOf(created, f) {
					t.Errorf("metadata.%s: created %q, answered %q, stored %q", f, metaOf(created, f), metaOf(answer, f), metaOf(stored, f))
				}
			}
			rvMoved := metaOf(answer, "resourceVersion") != metaOf(created, "resourceVersion")
			if tt.sameRV == rvMoved {
				t.Errorf("resourceVersion %s -> %s, want same=%v", metaOf(created, "resourceVersion"), metaOf(answer, "resourceVersion"), tt.sameRV)
			}
			gen := metaOf(created, "generation")
			switch {
			case tt.sameGeneration && metaOf(answer, "generation") != gen:
				t.Errorf("generation %s -> %s, want unchanged", gen, metaOf(answer, "generation"))
			case tt.bumpGeneration && metaOf(answer, "generation") != incr(gen):
				t.Errorf("generation %s -> %s, want %s", gen, metaOf(answer, "generation"), incr(gen))
			}
			if !strings.Contains(tt.query, "dryRun") && !reflect.DeepEqual(answer, stored) {
				t.Errorf("the answer is not what was stored:\n%v\n%v", answer, stored)
			}
			if tt.stored != nil {
				tt.stored(t, created, answer, stored)
			}
		})
	}
}

func incr(gen string) string {
	n := 0
	for _, c := range gen {
		n = n*10 + int(c-'0')
	}
	b, _ := json.Marshal(n + 1)
	return string(b)
}

func wantData(key, value string) func(t *testing.T, created, answer, stored map[string]any) {
	return func(t *testing.T, _, _, stored map[string]any) {
		data, _ := stored["data"].(map[string]any)
		if data[key] != value {
			t.Errorf("stored data.%s = %v, want %q", key, data[key], value)
		}
	}
}

func wantUnchanged(t *testing.T, created, _, stored map[string]any) {
	if !reflect.DeepEqual(created, stored) {
		t.Errorf("a dry run changed the stored object:\n%v\n%v", created, stored)
	}
}

// TestUpdateKeepsDeletionFields: a PUT of a manifest to an object being
// deleted (held by a finalizer) keeps its deletionTimestamp.
func TestUpdateKeepsDeletionFields(t *testing.T) {
	e := newTestEnv(t)
	withFinalizer := strings.Replace(fill(cmManifest, "a"), `"name":"conf"`, `"name":"conf","finalizers":["example.com/hold"]`, 1)
	if rep := e.do("POST", cmPath, "application/json", []byte(withFinalizer)); rep.code != http.StatusCreated {
		t.Fatalf("create: %d %s", rep.code, rep.body)
	}
	if rep := e.do("DELETE", cmPath+"/conf", "", nil); rep.code != http.StatusOK {
		t.Fatalf("delete: %d %s", rep.code, rep.body)
	}
	marked := e.objectAt(cmPath + "/conf")
	if metaOf(marked, "deletionTimestamp") == "" {
		t.Fatalf("delete did not mark the object: %v", marked)
	}
	rep := e.do("PUT", cmPath+"/conf", "application/json", []byte(strings.Replace(withFinalizer, `"a"`, `"b"`, 1)))
	if rep.code != http.StatusOK {
		t.Fatalf("PUT without resourceVersion to a deleting object: %d %s", rep.code, rep.body)
	}
	got := decodeMap(t, rep.body)
	if metaOf(got, "deletionTimestamp") != metaOf(marked, "deletionTimestamp") {
		t.Errorf("deletionTimestamp %q -> %q, want kept", metaOf(marked, "deletionTimestamp"), metaOf(got, "deletionTimestamp"))
	}
}

// TestDryRunStatusUpdate: a dry-run PUT of the status subresource answers
// the stored spec with the new status, and stores nothing.
func TestDryRunStatusUpdate(t *testing.T) {
	e := newTestEnv(t)
	rep := e.do("POST", deployPath, "application/json", []byte(deploymentJSON("web", "1", "web")))
	if rep.code != http.StatusCreated {
		t.Fatalf("create: %d %s", rep.code, rep.body)
	}
	created := decodeMap(t, rep.body)
	body := strings.Replace(deploymentJSON("web", "7", "web"), `"kind":"Deployment",`, `"kind":"Deployment","status":{"observedGeneration":1,"replicas":1},`, 1)
	rep = e.do("PUT", deployPath+"/web/status?dryRun=All", "application/json", []byte(body))
	if rep.code != http.StatusOK {
		t.Fatalf("dry-run status PUT: %d %s", rep.code, rep.body)
	}
	answer := decodeMap(t, rep.body)
	spec, _ := answer["spec"].(map[string]any)
	status, _ := answer["status"].(map[string]any)
	if spec["replicas"] != float64(1) || status["replicas"] != float64(1) {
		t.Errorf("answer spec.replicas %v status.replicas %v, want the stored spec (1) and the new status (1)", spec["replicas"], status["replicas"])
	}
	wantUnchanged(t, created, nil, e.objectAt(deployPath+"/web"))
}

// TestDryRunCreate: a dry-run create answers what would be stored, with a
// uid, creationTimestamp and generation, and stores nothing.
func TestDryRunCreate(t *testing.T) {
	e := newTestEnv(t)
	rep := e.do("POST", cmPath+"?dryRun=All", "application/json", []byte(fill(cmManifest, "hello")))
	if rep.code != http.StatusCreated {
		t.Fatalf("dry-run create: %d %s", rep.code, rep.body)
	}
	got := decodeMap(t, rep.body)
	if metaOf(got, "uid") == "" || metaOf(got, "creationTimestamp") == "" || metaOf(got, "generation") != "1" || metaOf(got, "resourceVersion") != "" {
		t.Errorf("dry-run create answered metadata %v, want uid, creationTimestamp and generation 1, no resourceVersion", got["metadata"])
	}
	e.status(e.do("GET", cmPath+"/conf", "", nil), http.StatusNotFound)
}
