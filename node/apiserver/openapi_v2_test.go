package apiserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// discoveredKinds lists the group-version-kind of every resource (not
// subresource) discovery announces, as a client finds them, with the
// resource's verbs.
func (e *testEnv) discoveredKinds() map[schema.GroupVersionKind][]string {
	e.t.Helper()
	_, lists, err := e.cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	out := map[schema.GroupVersionKind][]string{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				out[gv.WithKind(r.Kind)] = r.Verbs
			}
		}
	}
	return out
}

// getRaw GETs path with the Accept header and fails on anything but 200.
func (e *testEnv) getRaw(path, accept string) reply {
	e.t.Helper()
	rep := e.do("GET", path, "", nil, "Accept", accept)
	if rep.code != http.StatusOK {
		e.t.Fatalf("GET %s (Accept %s): %d %s", path, accept, rep.code, rep.body)
	}
	return rep
}

// openAPIModels are the schemas of /openapi/v2 (definitions) or of every
// /openapi/v3 document (components.schemas), by name.
type openAPIModels map[string]map[string]any

func (m openAPIModels) forKind(gvk schema.GroupVersionKind) (string, bool) {
	for name, s := range m {
		list, _ := s["x-kubernetes-group-version-kind"].([]any)
		for _, g := range list {
			g, _ := g.(map[string]any)
			if g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind {
				return name, true
			}
		}
	}
	return "", false
}

func (e *testEnv) openAPIV2Models() openAPIModels {
	e.t.Helper()
	var doc struct {
		Swagger     string        `json:"swagger"`
		Definitions openAPIModels `json:"definitions"`
	}
	if err := json.Unmarshal(e.getRaw("/openapi/v2?timeout=32s", "application/json").body, &doc); err != nil || doc.Swagger != "2.0" {
		e.t.Fatalf("/openapi/v2 is not a Swagger 2.0 document: %v %q", err, doc.Swagger)
	}
	return doc.Definitions
}

func (e *testEnv) openAPIV3Models() openAPIModels {
	e.t.Helper()
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(e.getRaw("/openapi/v3", "application/json").body, &index); err != nil {
		e.t.Fatal(err)
	}
	out := openAPIModels{}
	for _, p := range index.Paths {
		var doc struct {
			Components struct {
				Schemas openAPIModels `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(e.getRaw(p.ServerRelativeURL, "application/json").body, &doc); err != nil {
			e.t.Fatal(err)
		}
		for name, s := range doc.Components.Schemas {
			out[name] = s
		}
	}
	return out
}

// normalize rewrites a schema into what OpenAPI v2 and v3 share: refs are
// bare model names, and a v3 allOf around a single $ref is the $ref with
// its siblings beside it, as v2 writes it.
func normalize(s any) any {
	switch v := s.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = normalize(x)
		}
		if all, ok := out["allOf"].([]any); ok && len(all) == 1 {
			if inner, ok := all[0].(map[string]any); ok {
				delete(out, "allOf")
				for k, x := range inner {
					out[k] = x
				}
			}
		}
		if r, ok := out["$ref"].(string); ok {
			out["$ref"] = r[strings.LastIndex(r, "/")+1:]
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	}
	return s
}

// refsOf collects the model names a normalized schema refers to.
func refsOf(s any, into map[string]bool) {
	switch v := s.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			into[r] = true
		}
		for _, x := range v {
			refsOf(x, into)
		}
	case []any:
		for _, x := range v {
			refsOf(x, into)
		}
	}
}

// sameModel compares model name and everything it reaches in both
// documents. A v3 leaf spelled as oneOf (IntOrString, Quantity) matches the
// v2 type when that is one of the alternatives, with the same format.
func sameModel(t *testing.T, kind, name string, v2, v3 openAPIModels, seen map[string]bool) {
	t.Helper()
	if seen[name] {
		return
	}
	seen[name] = true
	s2, ok2 := v2[name]
	s3, ok3 := v3[name]
	if !ok2 || !ok3 {
		t.Errorf("%s: model %s in v2: %v, in v3: %v", kind, name, ok2, ok3)
		return
	}
	n2, n3 := normalize(s2).(map[string]any), normalize(s3).(map[string]any)
	if alts, ok := n3["oneOf"].([]any); ok {
		if !slices.ContainsFunc(alts, func(a any) bool { return a.(map[string]any)["type"] == n2["type"] }) {
			t.Errorf("%s: leaf %s: v2 type %v is none of v3's %v", kind, name, n2["type"], alts)
		}
		delete(n3, "oneOf")
		n3["type"] = n2["type"]
	}
	if !reflect.DeepEqual(n2, n3) {
		a, _ := json.MarshalIndent(n2, "", " ")
		b, _ := json.MarshalIndent(n3, "", " ")
		t.Errorf("%s: model %s differs between /openapi/v2 and /openapi/v3:\nv2: %s\nv3: %s", kind, name, a, b)
		return
	}
	refs := map[string]bool{}
	refsOf(n3, refs)
	for r := range refs {
		sameModel(t, kind, r, v2, v3, seen)
	}
}

func TestOpenAPIV2AndV3AgreeOnEveryDiscoveredKind(t *testing.T) {
	e := newTestEnv(t)
	v2, v3 := e.openAPIV2Models(), e.openAPIV3Models()
	kinds := e.discoveredKinds()
	if len(kinds) < len(registry.All()) {
		t.Fatalf("discovery lists %d kinds, the registry has %d", len(kinds), len(registry.All()))
	}
	seen := map[string]bool{}
	for gvk := range kinds {
		n2, ok2 := v2.forKind(gvk)
		n3, ok3 := v3.forKind(gvk)
		if !ok2 || !ok3 || n2 != n3 {
			t.Errorf("%s: model in /openapi/v2 %q (%v), in /openapi/v3 %q (%v)", gvk, n2, ok2, n3, ok3)
			continue
		}
		sameModel(t, gvk.String(), n2, v2, v3, seen)
	}
	// And the check can fail: a v3 model missing a field is caught.
	pod, _ := v3.forKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	broken := openAPIModels{}
	for k, v := range v3 {
		broken[k] = v
	}
	props := map[string]any{}
	for k, v := range broken[pod]["properties"].(map[string]any) {
		if k != "spec" {
			props[k] = v
		}
	}
	broken[pod] = map[string]any{"properties": props}
	inner := &testing.T{}
	sameModel(inner, "Pod", pod, v2, broken, map[string]bool{})
	if !inner.Failed() {
		t.Errorf("a v3 Pod without spec compared equal to v2's")
	}
}

// TestOpenAPIV2Protobuf: the protobuf form kubectl asks for first is the
// JSON document, and kubectl's model parser finds every discovered kind.
func TestOpenAPIV2Protobuf(t *testing.T) {
	e := newTestEnv(t)
	js := e.getRaw("/openapi/v2", "application/json")
	pb := e.getRaw("/openapi/v2?timeout=32s", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if ct := pb.header.Get("Content-Type"); ct != openAPIV2Proto {
		t.Errorf("protobuf Content-Type %q, want %q", ct, openAPIV2Proto)
	}
	if js.header.Get("Etag") == "" || js.header.Get("Etag") != pb.header.Get("Etag") {
		t.Errorf("ETags: JSON %q, protobuf %q, want one shared ETag", js.header.Get("Etag"), pb.header.Get("Etag"))
	}
	fromJSON, err := openapi_v2.ParseDocument(js.body)
	if err != nil {
		t.Fatalf("the JSON document is not valid Swagger 2.0: %v", err)
	}
	var fromProto openapi_v2.Document
	if err := proto.Unmarshal(pb.body, &fromProto); err != nil {
		t.Fatalf("the protobuf answer does not decode: %v", err)
	}
	if !proto.Equal(fromJSON, &fromProto) {
		t.Errorf("the protobuf and JSON documents differ")
	}
	// What kubectl and Helm do with it: client-go fetches the protobuf.
	doc, err := e.cs.Discovery().OpenAPISchema()
	if err != nil {
		t.Fatalf("client-go OpenAPISchema: %v", err)
	}
	resources, err := openapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl's OpenAPI parser: %v", err)
	}
	for gvk, verbs := range e.discoveredKinds() {
		if resources.LookupResource(gvk) == nil {
			t.Errorf("kubectl's parser finds no model for %s", gvk)
		}
		if !slices.Contains(verbs, "patch") {
			continue
		}
		if c := resources.GetConsumes(gvk, "PATCH"); !slices.Contains(c, "application/strategic-merge-patch+json") {
			t.Errorf("%s: PATCH consumes %v, want strategic merge patch among them", gvk, c)
		}
	}
}

func TestOpenAPIV2Caching(t *testing.T) {
	e := newTestEnv(t)
	for _, accept := range []string{"application/json", openAPIV2ProtoRequested} {
		etag := e.getRaw("/openapi/v2", accept).header.Get("Etag")
		rep := e.do("GET", "/openapi/v2", "", nil, "Accept", accept, "If-None-Match", etag)
		if rep.code != http.StatusNotModified || len(rep.body) != 0 {
			t.Errorf("Accept %s, If-None-Match %s: %d with %d bytes, want 304 and no body", accept, etag, rep.code, len(rep.body))
		}
	}
	if rep := e.do("GET", "/openapi/v2", "", nil, "Accept", "text/html"); rep.code != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d, want 406", rep.code)
	}
}

// parsedOpenAPI is the OpenAPIResourcesGetter kubectl's factory is.
type parsedOpenAPI struct{ p *openapi.CachedOpenAPIParser }

func (g parsedOpenAPI) OpenAPISchema() (openapi.Resources, error) { return g.p.Parse() }

// everyKindSample reads testdata/every-kind.yaml as JSON documents.
func everyKindSample(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.ReadFile("testdata/every-kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f), 4096)
	var out [][]byte
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
}

// TestOpenAPIV2ValidatesEveryKind runs kubectl's client-side schema
// validation (what Helm runs with OpenAPI validation on) over a sample of
// every kind, as written and as the server stored it with its defaults and
// status; and shows the same validation refuses an unknown field.
func TestOpenAPIV2ValidatesEveryKind(t *testing.T) {
	e := newTestEnv(t)
	v := validation.NewSchemaValidation(parsedOpenAPI{openapi.NewOpenAPIParser(e.cs.Discovery())})
	covered := map[schema.GroupVersionKind]bool{}
	for _, doc := range everyKindSample(t) {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		k, ok := registry.ForGVK(gvk)
		if !ok {
			t.Errorf("sample of %s, which shoal does not serve", gvk)
			continue
		}
		covered[gvk] = true
		if err := v.ValidateBytes(doc); err != nil {
			t.Errorf("%s as written: %v", gvk, err)
		}
		collection := "/" + gvPath(k.Group, k.Version) + "/"
		if k.Namespaced {
			collection += "namespaces/default/"
		}
		collection += k.Resource
		rep := e.do("POST", collection, "application/json", doc)
		if rep.code != http.StatusCreated {
			t.Errorf("create %s: %d %s", gvk, rep.code, rep.body)
			continue
		}
		// As a client reads it back: with kind and apiVersion.
		stored := e.getRaw(collection+"/"+metaOf(decodeMap(t, rep.body), "name"), "application/json").body
		if err := v.ValidateBytes(stored); err != nil {
			t.Errorf("%s as stored: %v\n%s", gvk, err, stored)
		}
	}
	for _, k := range registry.All() {
		if !covered[k.GVK()] {
			t.Errorf("testdata/every-kind.yaml has no %s", k.GVK())
		}
	}
	bad := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replica":2}}`)
	if err := v.ValidateBytes(bad); err == nil || !strings.Contains(err.Error(), `unknown field "replica"`) {
		t.Errorf("a Deployment with spec.replica: %v, want unknown field \"replica\"", err)
	}
}
