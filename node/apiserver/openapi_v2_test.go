package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"

	"github.com/shoal-project/shoal/internal/openapicheck"
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

// openAPIModels fetches both versions' models from the test server.
func (e *testEnv) openAPIModels() (v2, v3 openapicheck.Models) {
	e.t.Helper()
	v2, v3, err := openapicheck.Fetch(func(path, accept string) ([]byte, error) {
		rep := e.do("GET", path, "", nil, "Accept", accept)
		if rep.code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", path, rep.code, rep.body)
		}
		return rep.body, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return v2, v3
}

func TestOpenAPIV2AndV3AgreeOnEveryDiscoveredKind(t *testing.T) {
	e := newTestEnv(t)
	v2, v3 := e.openAPIModels()
	kinds := e.discoveredKinds()
	if len(kinds) < len(registry.All()) {
		t.Fatalf("discovery lists %d kinds, the registry has %d", len(kinds), len(registry.All()))
	}
	for gvk := range kinds {
		for _, d := range openapicheck.Compare(gvk, v2, v3) {
			t.Error(d)
		}
	}
	// And the check can fail: a v3 Pod model missing spec is caught.
	podGVK := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	pod, _ := v3.ForKind(podGVK)
	broken := openapicheck.Models{}
	for k, v := range v3 {
		broken[k] = v
	}
	props := map[string]any{}
	for k, v := range broken[pod]["properties"].(map[string]any) {
		if k != "spec" {
			props[k] = v
		}
	}
	broken[pod] = map[string]any{"properties": props, "x-kubernetes-group-version-kind": broken[pod]["x-kubernetes-group-version-kind"]}
	if len(openapicheck.Compare(podGVK, v2, broken)) == 0 {
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
