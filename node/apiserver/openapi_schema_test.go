package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/openapi3"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// docSchemas decodes the served document of group version path p.
func docSchemas(t *testing.T, p string) (doc map[string]any, schemas map[string]map[string]any) {
	t.Helper()
	set, err := buildOpenAPIV3(openAPIKinds(selfReviewServices()))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := set.docs[p]
	if !ok {
		t.Fatalf("no document %s", p)
	}
	var d struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body.json, &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body.json, &d); err != nil {
		t.Fatal(err)
	}
	return doc, d.Components.Schemas
}

func TestOpenAPIModelNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{corev1.Pod{}, "io.k8s.api.core.v1.Pod"},
		{appsv1.Deployment{}, "io.k8s.api.apps.v1.Deployment"},
		{networkingv1.Ingress{}, "io.k8s.api.networking.v1.Ingress"},
		{metav1.ObjectMeta{}, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{metav1.Time{}, "io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
		{resource.Quantity{}, "io.k8s.apimachinery.pkg.api.resource.Quantity"},
		{intstr.IntOrString{}, "io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
	} {
		typ := reflect.TypeOf(tc.v)
		// Both the generated OpenAPIModelName and the derivation from the
		// package path give Kubernetes' name.
		if got := modelName(typ); got != tc.want {
			t.Errorf("modelName(%v) = %q, want %q", typ, got, tc.want)
		}
		if got := derivedModelName(typ); got != tc.want {
			t.Errorf("derivedModelName(%v) = %q, want %q", typ, got, tc.want)
		}
	}
}

// collectRefs gathers every "$ref" value in v.
func collectRefs(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				out[s] = true
			}
			collectRefs(e, out)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, out)
		}
	}
}

func TestOpenAPISchemasRefsResolveAndKindsHaveGVK(t *testing.T) {
	for _, gv := range groupVersions() {
		p := gvPath(gv.Group, gv.Version)
		doc, schemas := docSchemas(t, p)
		refs := map[string]bool{}
		collectRefs(doc, refs)
		if len(refs) == 0 {
			t.Fatalf("%s: no $ref at all", p)
		}
		for ref := range refs {
			name, ok := strings.CutPrefix(ref, schemaRefPrefix)
			if _, found := schemas[name]; !ok || !found {
				t.Errorf("%s: $ref %q resolves to no component", p, ref)
			}
		}
		for _, k := range registry.All() {
			if k.GroupVersion() != gv {
				continue
			}
			for _, kind := range []string{k.Kind, k.Kind + "List"} {
				name := modelName(reflect.TypeOf(k.New()).Elem())
				if kind != k.Kind {
					name = modelName(reflect.TypeOf(k.NewList()).Elem())
				}
				got, _ := json.Marshal(schemas[name]["x-kubernetes-group-version-kind"])
				want := `[{"group":"` + k.Group + `","kind":"` + kind + `","version":"` + k.Version + `"}]`
				if string(got) != want {
					t.Errorf("%s %s: x-kubernetes-group-version-kind %s, want %s", p, name, got, want)
				}
			}
		}
	}
}

func TestOpenAPISchemaShapes(t *testing.T) {
	_, core := docSchemas(t, "api/v1")
	_, apps := docSchemas(t, "apis/apps/v1")
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	prop := func(schemas map[string]map[string]any, name, field string) string {
		props, _ := schemas[name]["properties"].(map[string]any)
		return js(props[field])
	}
	for _, tc := range []struct{ what, got, want string }{
		{"IntOrString", js(core["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["oneOf"]), `[{"type":"integer"},{"type":"string"}]`},
		{"IntOrString format", js(core["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"]), `"int-or-string"`},
		{"Quantity", js(core["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"]), `[{"type":"string"},{"type":"number"}]`},
		{"Time", js(core["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["type"]) + js(core["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"]), `"string""date-time"`},
		{"Secret.data", prop(core, "io.k8s.api.core.v1.Secret", "data"), `{"additionalProperties":{"format":"byte","type":"string"},"description":"Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4","type":"object"}`},
		{"Container.image", prop(core, "io.k8s.api.core.v1.Container", "image"), js(map[string]any{"type": "string", "description": corev1.Container{}.SwaggerDoc()["image"]})},
		{"Pod.metadata", prop(core, "io.k8s.api.core.v1.Pod", "metadata"), js(map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}, "default": map[string]any{}, "description": corev1.Pod{}.SwaggerDoc()["metadata"]})},
		{"Pod.kind (inlined TypeMeta)", prop(core, "io.k8s.api.core.v1.Pod", "kind"), js(map[string]any{"type": "string", "description": metav1.TypeMeta{}.SwaggerDoc()["kind"]})},
		{"Deployment.spec.replicas", prop(apps, "io.k8s.api.apps.v1.DeploymentSpec", "replicas"), js(map[string]any{"type": "integer", "format": "int32", "description": appsv1.DeploymentSpec{}.SwaggerDoc()["replicas"]})},
		{"Volume.secret (inlined VolumeSource)", prop(core, "io.k8s.api.core.v1.Volume", "secret"), js(map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/io.k8s.api.core.v1.SecretVolumeSource"}}, "description": corev1.VolumeSource{}.SwaggerDoc()["secret"]})},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.what, tc.got, tc.want)
		}
	}
	if c := core["io.k8s.api.core.v1.Container"]["description"]; c != (corev1.Container{}).SwaggerDoc()[""] {
		t.Errorf("Container description %q", c)
	}
}

// patchMetaString renders a PatchMeta for comparison; no strategy and the
// struct lookup's [""] are the same thing to strategicpatch.
func patchMetaString(pm strategicpatch.PatchMeta) string {
	strategies := slices.DeleteFunc(slices.Clone(pm.GetPatchStrategies()), func(s string) bool { return s == "" })
	return strings.Join(strategies, ",") + "/" + pm.GetPatchMergeKey()
}

// jsonFields lists the JSON fields of struct t as encoding/json sees them,
// embedded structs inlined.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
			continue
		}
		if f.IsExported() {
			out[name] = f.Type
		}
	}
	return out
}

// comparePatchMeta walks every field reachable from struct t and checks
// that the OpenAPI v3 lookup kubectl's apply uses gives the patch strategy
// and merge key the Go struct tags give. It returns the lists with a merge
// key it saw ("spec.template.spec.containers" -> "merge/name").
func comparePatchMeta(t *testing.T, path string, typ reflect.Type, fromStruct, fromV3 strategicpatch.LookupPatchMeta, stack map[reflect.Type]bool, seen map[string]string) {
	if stack[typ] {
		return
	}
	stack[typ] = true
	defer delete(stack, typ)
	for name, ft := range jsonFields(typ) {
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		fieldPath := strings.TrimPrefix(path+"."+name, ".")
		lookup := strategicpatch.LookupPatchMeta.LookupPatchMetadataForStruct
		elem := ft
		isList := (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && ft.Elem().Kind() != reflect.Uint8
		if isList {
			lookup = strategicpatch.LookupPatchMeta.LookupPatchMetadataForSlice
			elem = ft.Elem()
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
		}
		subS, pmS, errS := lookup(fromStruct, name)
		subV, pmV, errV := lookup(fromV3, name)
		if errS != nil || errV != nil {
			t.Errorf("%s: struct lookup error %v, OpenAPI v3 lookup error %v", fieldPath, errS, errV)
			continue
		}
		s, v := patchMetaString(pmS), patchMetaString(pmV)
		if s != v {
			t.Errorf("%s: patch meta from OpenAPI v3 %q, from struct tags %q", fieldPath, v, s)
		}
		if isList && s != "/" {
			seen[fieldPath] = s
		}
		if elem.Kind() == reflect.Struct && !isLeaf(elem) {
			comparePatchMeta(t, fieldPath, elem, subS, subV, stack, seen)
		}
	}
}

func TestOpenAPIPatchMetaMatchesStructTags(t *testing.T) {
	e := newTestEnv(t)
	root := openapi3.NewRoot(e.cs.Discovery().OpenAPIV3())
	for _, tc := range []struct {
		gv   schema.GroupVersion
		obj  any
		kind string
		want map[string]string
	}{
		{appsv1.SchemeGroupVersion, &appsv1.Deployment{}, "Deployment", map[string]string{
			"spec.template.spec.containers":                "merge/name",
			"spec.template.spec.containers.ports":          "merge/containerPort",
			"spec.template.spec.containers.env":            "merge/name",
			"spec.template.spec.containers.volumeMounts":   "merge/mountPath",
			"spec.template.spec.volumes":                   "merge,retainKeys/name",
			"spec.template.spec.imagePullSecrets":          "merge/name",
			"status.conditions":                            "merge/type",
			"metadata.ownerReferences":                     "merge/uid",
			"metadata.finalizers":                          "merge/",
			"spec.template.spec.initContainers":            "merge/name",
			"spec.template.spec.ephemeralContainers":       "merge/name",
			"spec.template.spec.hostAliases":               "merge/ip",
			"spec.template.spec.topologySpreadConstraints": "merge/topologyKey",
		}},
		{corev1.SchemeGroupVersion, &corev1.Pod{}, "Pod", map[string]string{
			"spec.containers":   "merge/name",
			"status.conditions": "merge/type",
		}},
		{corev1.SchemeGroupVersion, &corev1.Service{}, "Service", map[string]string{
			"spec.ports": "merge/port",
		}},
	} {
		gvSpec, err := root.GVSpec(tc.gv)
		if err != nil {
			t.Fatalf("GVSpec(%s): %v", tc.gv, err)
		}
		// Find the kind's schema as kubectl's apply does: by its GVK.
		name := modelName(reflect.TypeOf(tc.obj).Elem())
		v3 := strategicpatch.PatchMetaFromOpenAPIV3{Schema: gvSpec.Components.Schemas[name], SchemaList: gvSpec.Components.Schemas}
		if v3.Schema == nil {
			t.Fatalf("%s: no schema %s", tc.kind, name)
		}
		fromStruct, err := strategicpatch.NewPatchMetaFromStruct(tc.obj)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		comparePatchMeta(t, "", reflect.TypeOf(tc.obj).Elem(), fromStruct, v3, map[reflect.Type]bool{}, seen)
		for path, want := range tc.want {
			if seen[path] != want {
				t.Errorf("%s %s: patch meta %q, want %q", tc.kind, path, seen[path], want)
			}
		}
	}
}

// TestOpenAPIThreeWayPatchMatchesStructs: kubectl's client-side apply from
// the served schemas computes the patch it computes from the Go types.
func TestOpenAPIThreeWayPatchMatchesStructs(t *testing.T) {
	e := newTestEnv(t)
	gvSpec, err := openapi3.NewRoot(e.cs.Discovery().OpenAPIV3()).GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	original := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"web","image":"v1","ports":[{"containerPort":80}],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},{"name":"side","image":"s1"}],"volumes":[{"name":"cfg","configMap":{"name":"c"}}]}}}}`
	modified := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"b":"2"}},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"v2","ports":[{"containerPort":8080}],"env":[{"name":"B","value":"3"}]}],"volumes":[{"name":"cfg","secret":{"secretName":"s"}}]}}}}`
	current := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1","x":"y"}},"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"web","image":"v1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"imagePullPolicy":"IfNotPresent"},{"name":"side","image":"s1"}],"volumes":[{"name":"cfg","configMap":{"name":"c","defaultMode":420}}]}}}}`
	v3 := strategicpatch.PatchMetaFromOpenAPIV3{Schema: gvSpec.Components.Schemas["io.k8s.api.apps.v1.Deployment"], SchemaList: gvSpec.Components.Schemas}
	fromV3, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(current), v3, true)
	if err != nil {
		t.Fatalf("patch from OpenAPI v3: %v", err)
	}
	fromStruct, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(current), strategicpatch.PatchMetaFromStruct{T: reflect.TypeOf(appsv1.Deployment{})}, true)
	if err != nil {
		t.Fatalf("patch from structs: %v", err)
	}
	if !bytes.Equal(fromV3, fromStruct) {
		t.Errorf("three-way patch differs:\nOpenAPI v3 %s\nstructs    %s", fromV3, fromStruct)
	}
	if !strings.Contains(string(fromV3), `"$setElementOrder/containers"`) {
		t.Errorf("patch lacks the strategic list directives: %s", fromV3)
	}
}

// TestKubectlExplain runs kubectl's explain (v2, OpenAPI v3) against the
// served documents.
func TestKubectlExplain(t *testing.T) {
	e := newTestEnv(t)
	client := e.cs.Discovery().OpenAPIV3()
	for _, tc := range []struct {
		gvr    schema.GroupVersionResource
		fields []string
		want   []string
	}{
		{corev1.SchemeGroupVersion.WithResource("pods"), []string{"spec", "containers", "image"},
			[]string{"KIND:       Pod\nVERSION:    v1\n", "FIELD: image <string>", "Container image name."}},
		{corev1.SchemeGroupVersion.WithResource("pods"), nil,
			[]string{"Pod is a collection of containers", "apiVersion\t<string>", "metadata\t<ObjectMeta>", "spec\t<PodSpec>"}},
		{corev1.SchemeGroupVersion.WithResource("pods"), []string{"metadata", "creationTimestamp"}, []string{"FIELD: creationTimestamp <string>", "CreationTimestamp is a timestamp"}},
		{corev1.SchemeGroupVersion.WithResource("pods"), []string{"spec", "containers", "resources", "limits"}, []string{"FIELD: limits <map[string]Quantity>"}},
		{appsv1.SchemeGroupVersion.WithResource("deployments"), []string{"spec", "replicas"},
			[]string{"GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n", "FIELD: replicas <integer>", "Number of desired pods."}},
		{appsv1.SchemeGroupVersion.WithResource("deployments"), []string{"spec", "strategy", "rollingUpdate", "maxSurge"}, []string{"FIELD: maxSurge <IntOrString>"}},
		{networkingv1.SchemeGroupVersion.WithResource("ingresses"), []string{"spec", "rules"},
			[]string{"FIELD: rules <[]IngressRule>", "http\t<HTTPIngressRuleValue>", "host\t<string>"}},
	} {
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription(tc.fields, &out, client, tc.gvr, false, 0, "plaintext"); err != nil {
			t.Errorf("explain %s %v: %v", tc.gvr.Resource, tc.fields, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("explain %s %v: output lacks %q:\n%s", tc.gvr.Resource, tc.fields, w, out.String())
			}
		}
	}
}

func TestOpenAPICaching(t *testing.T) {
	e := newTestEnv(t)
	rep := e.do("GET", "/openapi/v3", "", nil)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rep.body, &index); err != nil {
		t.Fatal(err)
	}
	u := index.Paths["apis/apps/v1"].ServerRelativeURL
	set, _ := e.srv.openAPIV3()
	etag := set.docs["apis/apps/v1"].etag
	if u != "/openapi/v3/apis/apps/v1?hash="+etag || len(etag) != 128 {
		t.Fatalf("serverRelativeURL %q, want /openapi/v3/apis/apps/v1?hash=<SHA-512 in hex> (%s)", u, etag)
	}
	rep = e.do("GET", u, "", nil)
	if rep.code != http.StatusOK || rep.header.Get("Cache-Control") != "public, immutable" || rep.header.Get("Etag") != `"`+etag+`"` {
		t.Errorf("GET %s: %d Cache-Control %q Etag %q", u, rep.code, rep.header.Get("Cache-Control"), rep.header.Get("Etag"))
	}
	rep = e.do("GET", "/openapi/v3/apis/apps/v1", "", nil, "If-None-Match", `"`+etag+`"`)
	if rep.code != http.StatusNotModified || rep.header.Get("Cache-Control") != "" {
		t.Errorf("GET with If-None-Match: %d Cache-Control %q, want 304 and no Cache-Control", rep.code, rep.header.Get("Cache-Control"))
	}
	// A stale hash is sent to the current document.
	req, _ := http.NewRequest("GET", e.hs.URL+"/openapi/v3/apis/apps/v1?hash=0123", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	noFollow := *e.hs.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != u {
		t.Errorf("GET with a stale hash: %d Location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), u)
	}
}
