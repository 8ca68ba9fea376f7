package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	cmPath     = "/api/v1/namespaces/default/configmaps"
	deployPath = "/apis/apps/v1/namespaces/default/deployments"
)

// deploymentJSON is a valid Deployment body with the given replicas and
// template labels.
func deploymentJSON(name, replicas, templateApp string) string {
	return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `"},
	"spec":{"replicas":` + replicas + `,"selector":{"matchLabels":{"app":"web"}},
	"template":{"metadata":{"labels":{"app":"` + templateApp + `"}},"spec":{"containers":[{"name":"web","image":"nginx"}]}}}}`
}

func TestBadInput(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.cs.CoreV1().ConfigMaps("default").Create(e.ctx, testConfigMap("existing", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		code        int
		reason      metav1.StatusReason
		field       string // a details.causes field the answer must name
		list        string // the collection that must stay unchanged
	}{
		{name: "malformed JSON", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "malformed YAML", method: "POST", path: cmPath, contentType: "application/yaml",
			body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "JSON that is not an object", method: "POST", path: cmPath, contentType: "application/json",
			body: `["a"]`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "empty body", method: "POST", path: cmPath, contentType: "application/json",
			code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "unknown resource", method: "GET", path: "/api/v1/namespaces/default/widgets",
			code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown group", method: "POST", path: "/apis/widgets.example.com/v1/namespaces/default/widgets", contentType: "application/json",
			body: `{}`, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown subresource", method: "GET", path: cmPath + "/existing/bogus",
			code: 404, reason: metav1.StatusReasonNotFound},
		{name: "kind does not match the URL", method: "POST", path: deployPath, contentType: "application/json",
			body: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: deployPath},
		{name: "kind does not match the URL in the same group", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "apiVersion does not match the URL", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "namespace does not match the URL", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"metadata":{"name":"x","namespace":"kube-system"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "missing name", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.name", list: cmPath},
		{name: "invalid name", method: "POST", path: cmPath, contentType: "application/json",
			body: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}`, code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.name", list: cmPath},
		{name: "invalid name in YAML", method: "POST", path: cmPath, contentType: "application/yaml",
			body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n", code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.name", list: cmPath},
		{name: "negative replicas", method: "POST", path: deployPath, contentType: "application/json",
			body: deploymentJSON("neg", "-1", "web"), code: 422, reason: metav1.StatusReasonInvalid, field: "spec.replicas", list: deployPath},
		{name: "selector does not match template", method: "POST", path: deployPath, contentType: "application/json",
			body: deploymentJSON("mismatch", "1", "other"), code: 422, reason: metav1.StatusReasonInvalid, field: "spec.template.metadata.labels", list: deployPath},
		{name: "strict unknown field", method: "POST", path: deployPath + "?fieldValidation=Strict", contentType: "application/json",
			body: strings.Replace(deploymentJSON("strict", "1", "web"), `"replicas"`, `"bogus":1,"replicas"`, 1), code: 400, reason: metav1.StatusReasonBadRequest, list: deployPath},
		{name: "strict duplicate field", method: "POST", path: cmPath + "?fieldValidation=Strict", contentType: "application/json",
			body: `{"metadata":{"name":"dup","name":"dup2"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "PUT name does not match the URL", method: "PUT", path: cmPath + "/existing", contentType: "application/json",
			body: `{"metadata":{"name":"other"}}`, code: 400, reason: metav1.StatusReasonBadRequest, list: cmPath},
		{name: "PUT of a missing object", method: "PUT", path: cmPath + "/missing", contentType: "application/json",
			body: `{"metadata":{"name":"missing"}}`, code: 404, reason: metav1.StatusReasonNotFound, list: cmPath},
		{name: "unsupported media type", method: "POST", path: cmPath, contentType: "text/plain",
			body: `hello`, code: 415, reason: metav1.StatusReasonUnsupportedMediaType, list: cmPath},
		{name: "POST on an object", method: "POST", path: cmPath + "/existing", contentType: "application/json",
			body: `{}`, code: 405, reason: metav1.StatusReasonMethodNotAllowed, list: cmPath},
		{name: "bad resourceVersion", method: "GET", path: cmPath + "?resourceVersion=abc",
			code: 400, reason: metav1.StatusReasonBadRequest},
	}
	defer func() { e.t = t }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			var before []string
			if tt.list != "" {
				before = e.names(tt.list)
			}
			st := e.status(e.do(tt.method, tt.path, tt.contentType, []byte(tt.body)), tt.code)
			if st.Status != metav1.StatusFailure || st.Reason != tt.reason || st.Message == "" {
				t.Errorf("status %q reason %q message %q, want Failure %q", st.Status, st.Reason, st.Message, tt.reason)
			}
			if tt.field != "" && (st.Details == nil || !slices.ContainsFunc(st.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == tt.field })) {
				t.Errorf("details %+v do not name field %s", st.Details, tt.field)
			}
			if tt.list != "" {
				if after := e.names(tt.list); !slices.Equal(before, after) {
					t.Errorf("%s changed: %v -> %v", tt.list, before, after)
				}
			}
			if rep := e.do("GET", "/version", "", nil); rep.code != http.StatusOK {
				t.Errorf("server stopped answering: %d %s", rep.code, rep.body)
			}
		})
	}
}

func TestStaleResourceVersion(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	v1, err := cms.Create(e.ctx, testConfigMap("cm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := v1.DeepCopy()
	v2.Data["k"] = "second"
	if _, err := cms.Update(e.ctx, v2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	v1.Data["k"] = "stale"
	_, err = cms.Update(e.ctx, v1, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}
	body, _ := json.Marshal(v1)
	st := e.status(e.do("PUT", cmPath+"/cm", "application/json", body), 409)
	if st.Reason != metav1.StatusReasonConflict || !strings.Contains(st.Message, `Operation cannot be fulfilled on configmaps "cm"`) {
		t.Errorf("stale PUT: %+v", st)
	}
	got, err := cms.Get(e.ctx, "cm", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "second" {
		t.Errorf("after the conflict: %v %v, want data k=second", got.Data, err)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newTestEnv(t)
	big := `{"metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", maxBodyBytes+1024) + `"}}`
	for _, method := range []string{"POST", "PUT", "PATCH"} {
		path, ct := cmPath, "application/json"
		if method != "POST" {
			path += "/big"
		}
		if method == "PATCH" {
			ct = "application/merge-patch+json"
		}
		st := e.status(e.do(method, path, ct, []byte(big)), http.StatusRequestEntityTooLarge)
		if st.Reason != metav1.StatusReasonRequestEntityTooLarge {
			t.Errorf("%s: reason %q, want RequestEntityTooLarge", method, st.Reason)
		}
	}
	if got := e.names(cmPath); len(got) != 0 {
		t.Errorf("something was stored: %v", got)
	}
}

func TestUnauthorized(t *testing.T) {
	e := newTestEnv(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic c2VjcmV0", "Bearer secret2"} {
		for _, path := range []string{"/version", "/api", cmPath} {
			req, _ := http.NewRequest("GET", e.hs.URL+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := e.hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if st := e.status(reply{code: resp.StatusCode, body: b}, 401); st.Reason != metav1.StatusReasonUnauthorized {
				t.Errorf("%q %s: reason %q", auth, path, st.Reason)
			}
		}
	}
	// Health checks need no token.
	resp, err := e.hs.Client().Get(e.hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz without a token: %d", resp.StatusCode)
	}
}

func TestRecoverPanics(t *testing.T) {
	e := newTestEnv(t)
	h := e.srv.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom")
		}
		w.Write([]byte("fine"))
	}))
	hs := httptest.NewServer(h)
	defer hs.Close()
	for range 2 {
		resp, err := hs.Client().Get(hs.URL + "/boom")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		st := e.status(reply{code: resp.StatusCode, body: b}, 500)
		if st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "boom") {
			t.Errorf("panic answered %+v", st)
		}
		resp, err = hs.Client().Get(hs.URL + "/ok")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "fine" {
			t.Errorf("after a panic: %q", b)
		}
	}
}
