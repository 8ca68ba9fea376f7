package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (e *testEnv) getJSON(path string, into any) {
	e.t.Helper()
	rep := e.do("GET", path+"?timeout=32s", "", nil, "Accept", "application/json, */*")
	if rep.code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rep.code, rep.body)
	}
	if err := json.Unmarshal(rep.body, into); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
}

func TestVersionAndGroups(t *testing.T) {
	e := newTestEnv(t)
	var v VersionInfo
	e.getJSON("/version", &v)
	if v.Major != "1" || v.Minor != "32" || v.GitVersion == "" || v.Platform == "" {
		t.Errorf("/version %+v", v)
	}
	sv, err := e.cs.Discovery().ServerVersion()
	if err != nil || sv.Minor != "32" {
		t.Errorf("client-go ServerVersion: %v %+v", err, sv)
	}

	var api metav1.APIVersions
	e.getJSON("/api", &api)
	if api.Kind != "APIVersions" || !slices.Equal(api.Versions, []string{"v1"}) || len(api.ServerAddressByClientCIDRs) != 1 {
		t.Errorf("/api %+v", api)
	}
	var groups metav1.APIGroupList
	e.getJSON("/apis", &groups)
	if groups.Kind != "APIGroupList" || len(groups.Groups) == 0 || groups.Groups[0].Name != "apps" ||
		groups.Groups[0].PreferredVersion.GroupVersion != "apps/v1" {
		t.Errorf("/apis %+v", groups)
	}
	var apps metav1.APIGroup
	e.getJSON("/apis/apps", &apps)
	if apps.Name != "apps" || len(apps.Versions) != 1 {
		t.Errorf("/apis/apps %+v", apps)
	}
	e.status(e.do("GET", "/apis/nope", "", nil), 404)
	e.status(e.do("GET", "/apis/apps/v2", "", nil), 404)
}

func TestResourceLists(t *testing.T) {
	e := newTestEnv(t)
	find := func(l *metav1.APIResourceList, name string) metav1.APIResource {
		t.Helper()
		for _, r := range l.APIResources {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("%s lacks %s", l.GroupVersion, name)
		return metav1.APIResource{}
	}
	var core metav1.APIResourceList
	e.getJSON("/api/v1", &core)
	if core.Kind != "APIResourceList" || core.GroupVersion != "v1" {
		t.Errorf("/api/v1 %s %s", core.Kind, core.GroupVersion)
	}
	pods := find(&core, "pods")
	if !slices.Contains(pods.ShortNames, "po") || !slices.Contains(pods.Categories, "all") || !pods.Namespaced ||
		pods.Kind != "Pod" || pods.SingularName != "pod" || !slices.Contains(pods.Verbs, "watch") {
		t.Errorf("pods %+v", pods)
	}
	for _, sub := range []string{"pods/log", "pods/status", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction", "pods/binding", "pods/attach"} {
		find(&core, sub)
	}
	if ev := find(&core, "pods/eviction"); ev.Group != "policy" || ev.Version != "v1" || ev.Kind != "Eviction" {
		t.Errorf("pods/eviction %+v", ev)
	}
	for res, short := range map[string]string{"services": "svc", "nodes": "no", "namespaces": "ns", "events": "ev", "configmaps": "cm"} {
		if r := find(&core, res); !slices.Contains(r.ShortNames, short) {
			t.Errorf("%s shortNames %v, want %s", res, r.ShortNames, short)
		}
	}
	if find(&core, "nodes").Namespaced || find(&core, "namespaces").Namespaced {
		t.Error("nodes or namespaces listed as namespaced")
	}

	var apps metav1.APIResourceList
	e.getJSON("/apis/apps/v1", &apps)
	deploy := find(&apps, "deployments")
	if !slices.Contains(deploy.ShortNames, "deploy") || !slices.Contains(deploy.Categories, "all") || deploy.Kind != "Deployment" {
		t.Errorf("deployments %+v", deploy)
	}
	if sc := find(&apps, "deployments/scale"); sc.Group != "autoscaling" || sc.Version != "v1" || sc.Kind != "Scale" || !slices.Contains(sc.Verbs, "patch") {
		t.Errorf("deployments/scale %+v", sc)
	}
	if st := find(&apps, "deployments/status"); st.Kind != "Deployment" || st.Group != "" {
		t.Errorf("deployments/status %+v", st)
	}
	find(&apps, "replicasets")

	// client-go's discovery reads the same answers.
	rl, err := e.cs.Discovery().ServerResourcesForGroupVersion("apps/v1")
	if err != nil || len(rl.APIResources) != len(apps.APIResources) {
		t.Errorf("client-go discovery: %v", err)
	}
	if _, err := e.cs.Discovery().ServerGroups(); err != nil {
		t.Errorf("client-go ServerGroups: %v", err)
	}
}

func TestOpenAPIv3(t *testing.T) {
	e := newTestEnv(t)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	e.getJSON("/openapi/v3", &index)
	for _, gv := range []string{"api/v1", "apis/apps/v1"} {
		p, ok := index.Paths[gv]
		if !ok {
			t.Fatalf("/openapi/v3 lacks %s: %+v", gv, index)
		}
		var doc struct {
			Paths map[string]map[string]struct {
				GVK        map[string]string   `json:"x-kubernetes-group-version-kind"`
				Parameters []map[string]string `json:"parameters"`
			} `json:"paths"`
		}
		e.getJSON(p.ServerRelativeURL, &doc)
		kinds := map[string]bool{}
		for path, ops := range doc.Paths {
			patch, ok := ops["patch"]
			if !ok {
				t.Errorf("%s %s has no patch operation", gv, path)
				continue
			}
			if !slices.ContainsFunc(patch.Parameters, func(p map[string]string) bool {
				return p["name"] == "fieldValidation" && p["in"] == "query"
			}) {
				t.Errorf("%s %s patch lacks the fieldValidation query parameter", gv, path)
			}
			kinds[patch.GVK["group"]+"/"+patch.GVK["version"]+"/"+patch.GVK["kind"]] = true
		}
		want := map[string][]string{"api/v1": {"/v1/Pod", "/v1/Service", "/v1/Namespace"}, "apis/apps/v1": {"apps/v1/Deployment", "apps/v1/ReplicaSet"}}[gv]
		for _, k := range want {
			if !kinds[k] {
				t.Errorf("%s lacks a patch op for %s (has %v)", gv, k, kinds)
			}
		}
	}
	e.status(e.do("GET", "/openapi/v3/apis/nope/v1", "", nil), 404)
}
