package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
)

// fakeResource is one resource the fake API server serves.
type fakeResource struct {
	gv         schema.GroupVersion
	name       string // plural
	kind       string
	namespaced bool
	short      []string
	categories []string
	// typed is the struct that drives strategic merge patches; nil means
	// JSON merge patch.
	typed interface{}
}

var fakeResources = []fakeResource{
	{gv: schema.GroupVersion{Version: "v1"}, name: "pods", kind: "Pod", namespaced: true, short: []string{"po"}, categories: []string{"all"}, typed: corev1.Pod{}},
	{gv: schema.GroupVersion{Version: "v1"}, name: "services", kind: "Service", namespaced: true, short: []string{"svc"}, categories: []string{"all"}, typed: corev1.Service{}},
	{gv: schema.GroupVersion{Version: "v1"}, name: "configmaps", kind: "ConfigMap", namespaced: true, short: []string{"cm"}, typed: corev1.ConfigMap{}},
	{gv: schema.GroupVersion{Version: "v1"}, name: "events", kind: "Event", namespaced: true, short: []string{"ev"}, typed: corev1.Event{}},
	{gv: schema.GroupVersion{Version: "v1"}, name: "namespaces", kind: "Namespace", short: []string{"ns"}, typed: corev1.Namespace{}},
	{gv: schema.GroupVersion{Group: "apps", Version: "v1"}, name: "deployments", kind: "Deployment", namespaced: true, short: []string{"deploy"}, categories: []string{"all"}, typed: appsv1.Deployment{}},
	{gv: schema.GroupVersion{Group: "example.com", Version: "v1"}, name: "widgets", kind: "Widget", namespaced: true},
}

// fakeRequest is one request the fake server saw.
type fakeRequest struct {
	Method, Path, Query, Accept, ContentType string
	Body                                     string
}

// fakeAPI is a tiny in-memory Kubernetes API: legacy discovery, CRUD,
// label selectors, strategic merge and JSON merge patches, Tables with a
// Name column, and NotFound/Invalid Status errors like the real server's.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	objects  map[string]map[string]interface{} // "<resource>.<group>/<ns>/<name>"
	requests []fakeRequest
	rv       int
	// lingers makes a deleted object answer GET this many more times.
	lingers int
	dying   map[string]int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, objects: map[string]map[string]interface{}{}, dying: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// restConfig is a client config for the fake server.
func (f *fakeAPI) restConfig() *rest.Config { return &rest.Config{Host: f.srv.URL} }

// clients connects to the fake server, writing to the given buffers.
func (f *fakeAPI) clients(t *testing.T, stdout, stderr *bytes.Buffer) *clients {
	t.Helper()
	cl, err := newClientsForConfig(f.restConfig(), "default", Deps{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// writes returns the requests other than GETs.
func (f *fakeAPI) writes() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeAPI) resetRequests() {
	f.mu.Lock()
	f.requests = nil
	f.mu.Unlock()
}

func (f *fakeAPI) put(res *fakeResource, ns string, obj map[string]interface{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store(res, ns, obj)
}

func (f *fakeAPI) get(res *fakeResource, ns, name string) map[string]interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[key(res, ns, name)]
}

func key(res *fakeResource, ns, name string) string {
	return res.name + "." + res.gv.Group + "/" + ns + "/" + name
}

func findResource(group, name string) *fakeResource {
	for i := range fakeResources {
		if fakeResources[i].gv.Group == group && fakeResources[i].name == name {
			return &fakeResources[i]
		}
	}
	return nil
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Accept: r.Header.Get("Accept"), ContentType: r.Header.Get("Content-Type"), Body: string(body),
	})
	w.Header().Set("Content-Type", "application/json")
	if f.discovery(w, r.URL.Path) {
		return
	}
	// /api/v1/[namespaces/NS/]RES[/NAME] or /apis/G/V/[namespaces/NS/]RES[/NAME]
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		http.NotFound(w, r)
		return
	}
	ns := ""
	if len(parts) >= 3 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	res := findResource(group, parts[0])
	if res == nil {
		f.status(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	name := ""
	if len(parts) > 1 {
		name = parts[1]
	}
	gr := schema.GroupResource{Group: group, Resource: res.name}
	switch {
	case r.Method == http.MethodGet && name == "":
		f.list(w, r, res, ns)
	case r.Method == http.MethodGet:
		k := key(res, ns, name)
		obj, ok := f.objects[k]
		if n, dying := f.dying[k]; dying {
			if n == 0 {
				delete(f.objects, k)
				delete(f.dying, k)
				ok = false
			} else {
				f.dying[k] = n - 1
			}
		}
		if !ok {
			f.status(w, apierrors.NewNotFound(gr, name))
			return
		}
		f.answer(w, r, res, []map[string]interface{}{obj}, false)
	case r.Method == http.MethodPost:
		var obj map[string]interface{}
		if err := json.Unmarshal(body, &obj); err != nil {
			f.status(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		name, _ := obj["metadata"].(map[string]interface{})["name"].(string)
		if _, ok := f.objects[key(res, ns, name)]; ok {
			f.status(w, apierrors.NewAlreadyExists(gr, name))
			return
		}
		if err := validate(res, name, obj); err != nil {
			f.status(w, err)
			return
		}
		f.store(res, ns, obj)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(obj)
	case r.Method == http.MethodPatch:
		cur, ok := f.objects[key(res, ns, name)]
		if !ok {
			f.status(w, apierrors.NewNotFound(gr, name))
			return
		}
		curJSON, _ := json.Marshal(cur)
		var patched []byte
		var err error
		if r.Header.Get("Content-Type") == "application/strategic-merge-patch+json" {
			patched, err = strategicpatch.StrategicMergePatch(curJSON, body, res.typed)
		} else {
			var p interface{}
			if err = json.Unmarshal(body, &p); err == nil {
				var c interface{}
				json.Unmarshal(curJSON, &c)
				patched, err = json.Marshal(mergePatch(c, p))
			}
		}
		if err != nil {
			f.status(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		var obj map[string]interface{}
		json.Unmarshal(patched, &obj)
		if err := validate(res, name, obj); err != nil {
			f.status(w, err)
			return
		}
		f.store(res, ns, obj)
		json.NewEncoder(w).Encode(obj)
	case r.Method == http.MethodDelete:
		k := key(res, ns, name)
		obj, ok := f.objects[k]
		if !ok {
			f.status(w, apierrors.NewNotFound(gr, name))
			return
		}
		if f.lingers == 0 {
			delete(f.objects, k)
		} else {
			f.dying[k] = f.lingers
		}
		json.NewEncoder(w).Encode(obj)
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
}

// validate rejects negative deployment replicas with the real server's
// message.
func validate(res *fakeResource, name string, obj map[string]interface{}) error {
	spec, _ := obj["spec"].(map[string]interface{})
	if r, ok := spec["replicas"].(float64); ok && r < 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: res.gv.Group, Kind: res.kind}, name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "replicas"), int64(r), "must be greater than or equal to 0"),
		})
	}
	return nil
}

// store stamps metadata like the server does and saves obj. f.mu is held.
func (f *fakeAPI) store(res *fakeResource, ns string, obj map[string]interface{}) {
	f.rv++
	md, _ := obj["metadata"].(map[string]interface{})
	if md == nil {
		md = map[string]interface{}{}
		obj["metadata"] = md
	}
	if res.namespaced {
		md["namespace"] = ns
	}
	if md["uid"] == nil {
		md["uid"] = fmt.Sprintf("uid-%d", f.rv)
		md["creationTimestamp"] = "2024-01-01T00:00:00Z"
	}
	md["resourceVersion"] = fmt.Sprint(f.rv)
	obj["apiVersion"] = res.gv.String()
	obj["kind"] = res.kind
	f.objects[key(res, ns, md["name"].(string))] = obj
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request, res *fakeResource, ns string) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		f.status(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	prefix := res.name + "." + res.gv.Group + "/"
	if ns != "" {
		prefix += ns + "/"
	}
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var items []map[string]interface{}
	for _, k := range keys {
		obj := f.objects[k]
		md := obj["metadata"].(map[string]interface{})
		lbls := labels.Set{}
		if l, ok := md["labels"].(map[string]interface{}); ok {
			for k, v := range l {
				lbls[k] = fmt.Sprint(v)
			}
		}
		if sel.Matches(lbls) {
			items = append(items, obj)
		}
	}
	f.answer(w, r, res, items, true)
}

// answer writes objects as a Table (when asked for one), a list or one
// object.
func (f *fakeAPI) answer(w http.ResponseWriter, r *http.Request, res *fakeResource, items []map[string]interface{}, list bool) {
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.Header.Get("Accept"), "as=Table") {
		table := map[string]interface{}{
			"kind": "Table", "apiVersion": "meta.k8s.io/v1",
			"metadata": map[string]interface{}{"resourceVersion": fmt.Sprint(f.rv)},
			"columnDefinitions": []map[string]interface{}{
				{"name": "Name", "type": "string", "format": "name", "priority": 0},
				{"name": "Age", "type": "string", "format": "", "priority": 0},
				{"name": "Kind", "type": "string", "format": "", "priority": 1},
			},
		}
		rows := []map[string]interface{}{}
		for _, obj := range items {
			md := obj["metadata"].(map[string]interface{})
			rows = append(rows, map[string]interface{}{
				"cells": []interface{}{md["name"], "5m", res.kind},
				"object": map[string]interface{}{
					"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md,
				},
			})
		}
		table["rows"] = rows
		json.NewEncoder(w).Encode(table)
		return
	}
	if !list {
		json.NewEncoder(w).Encode(items[0])
		return
	}
	if items == nil {
		items = []map[string]interface{}{}
	}
	json.NewEncoder(w).Encode(map[string]interface{}{
		"kind": res.kind + "List", "apiVersion": res.gv.String(),
		"metadata": map[string]interface{}{"resourceVersion": fmt.Sprint(f.rv)},
		"items":    items,
	})
}

func (f *fakeAPI) status(w http.ResponseWriter, err error) {
	st := err.(apierrors.APIStatus).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	json.NewEncoder(w).Encode(st)
}

// discovery answers the legacy discovery documents.
func (f *fakeAPI) discovery(w http.ResponseWriter, path string) bool {
	var doc interface{}
	switch path {
	case "/api":
		doc = metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}}
	case "/apis":
		groups := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range []string{"apps", "example.com"} {
			gv := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
			groups.Groups = append(groups.Groups, metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
		}
		doc = groups
	default:
		gv := strings.TrimPrefix(strings.TrimPrefix(path, "/api/"), "/apis/")
		if gv != "v1" && gv != "apps/v1" && gv != "example.com/v1" {
			return false
		}
		list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
		for _, r := range fakeResources {
			if r.gv.String() == gv {
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name: r.name, SingularName: strings.ToLower(r.kind), Namespaced: r.namespaced, Kind: r.kind,
					Verbs: metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}, ShortNames: r.short, Categories: r.categories,
				})
			}
		}
		doc = list
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
	return true
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(target, patch interface{}) interface{} {
	p, ok := patch.(map[string]interface{})
	if !ok {
		return patch
	}
	t, ok := target.(map[string]interface{})
	if !ok {
		t = map[string]interface{}{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
