package apiserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/consensus"
)

// TestAPIServices checks that an APIService's group is discovered and
// its requests reach its handler, authenticated, with the path unchanged.
func TestAPIServices(t *testing.T) {
	st := consensus.NewStore()
	var seen []string
	srv := New(Config{
		Store: st, Proposer: consensus.NewLocalProposer(st),
		Authenticate: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		APIServices: []APIService{{
			GroupVersion: schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"},
			Resources:    []metav1.APIResource{{Name: "nodes", Kind: "NodeMetrics", Verbs: metav1.Verbs{"get", "list"}}},
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r.Method+" "+r.URL.RequestURI())
				w.WriteHeader(http.StatusTeapot)
			}),
		}},
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func(path string, authed bool) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		if authed {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	var groups metav1.APIGroupList
	_, b := get("/apis", true)
	json.Unmarshal(b, &groups)
	found := false
	for _, g := range groups.Groups {
		if g.Name == "metrics.k8s.io" {
			found = g.PreferredVersion.GroupVersion == "metrics.k8s.io/v1beta1" && len(g.Versions) == 1
		}
	}
	if !found {
		t.Errorf("/apis does not list metrics.k8s.io/v1beta1: %s", b)
	}
	var group metav1.APIGroup
	if code, b := get("/apis/metrics.k8s.io", true); code != 200 || json.Unmarshal(b, &group) != nil || group.Name != "metrics.k8s.io" {
		t.Errorf("/apis/metrics.k8s.io: %d %s", code, b)
	}
	var list metav1.APIResourceList
	if code, b := get("/apis/metrics.k8s.io/v1beta1", true); code != 200 || json.Unmarshal(b, &list) != nil ||
		list.GroupVersion != "metrics.k8s.io/v1beta1" || len(list.APIResources) != 1 || list.APIResources[0].Kind != "NodeMetrics" {
		t.Errorf("/apis/metrics.k8s.io/v1beta1: %d %s", code, b)
	}
	if code, _ := get("/apis/metrics.k8s.io/v1beta1/nodes/a?x=1", true); code != http.StatusTeapot {
		t.Errorf("a request to the service answered %d, want the handler's 418", code)
	}
	if code, _ := get("/apis/metrics.k8s.io/v1beta1/nodes", false); code != http.StatusUnauthorized {
		t.Errorf("an unauthenticated request answered %d, want 401", code)
	}
	if code, _ := get("/apis/metrics.k8s.io/v2/nodes", true); code != http.StatusNotFound {
		t.Errorf("another version of the group answered %d, want 404", code)
	}
	if len(seen) != 1 || seen[0] != "GET /apis/metrics.k8s.io/v1beta1/nodes/a?x=1" {
		t.Errorf("the handler saw %q", seen)
	}
}
