package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// /openapi/v2: one Swagger 2.0 document of every kind, with the same
// schemas as the /openapi/v3 documents (one schemaBuilder walk of the same
// types, see openapi_schema.go) and the same operations per kind (GET, PUT
// and PATCH on the named object, PATCH declaring its patch types and the
// fieldValidation parameter).
//
// Clients read it where v3 does not answer what they ask: kubectl's and
// Helm's client-side schema validation (validation.NewSchemaValidation
// reads the v2 models), the fallback field-validation check
// (QueryParamVerifier), and the patch metadata of client-side apply. They
// ask for protobuf first, as kube-openapi serves it:
// Accept application/com.github.proto-openapi.spec.v2@v1.0+protobuf, answered
// with the same document encoded as gnostic's openapi_v2.Document. As in
// kube-openapi, both forms share one ETag (the SHA-512 of the JSON), so a
// client revalidates either with If-None-Match and gets 304.

// Media types of the v2 document (kube-openapi's handler).
const (
	openAPIV2JSON           = "application/json"
	openAPIV2Proto          = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	openAPIV2ProtoRequested = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
)

// openAPIV2Set is the v2 document as JSON (with its ETag) and protobuf.
type openAPIV2Set struct {
	built time.Time
	json  openAPIBody
	proto []byte
}

// buildOpenAPIV2 builds the v2 document of kinds, as JSON and as protobuf.
func buildOpenAPIV2(kinds []openAPIKind) (openAPIV2Set, error) {
	body, err := newOpenAPIBody(openAPIV2Document(kinds))
	if err != nil {
		return openAPIV2Set{}, fmt.Errorf("openapi v2: %w", err)
	}
	doc, err := openapi_v2.ParseDocument(body.json)
	if err != nil {
		return openAPIV2Set{}, fmt.Errorf("openapi v2: the document does not parse as Swagger 2.0: %w", err)
	}
	pb, err := proto.Marshal(doc)
	if err != nil {
		return openAPIV2Set{}, fmt.Errorf("openapi v2: protobuf: %w", err)
	}
	return openAPIV2Set{built: time.Now(), json: body, proto: pb}, nil
}

// openAPIV2Document is the Swagger 2.0 document of kinds.
func openAPIV2Document(kinds []openAPIKind) map[string]any {
	b := newSchemaBuilderV2()
	patchName := "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	b.schemas[patchName] = map[string]any{"type": "object", "description": leafDescriptions[patchName]}
	paths := map[string]any{}
	for _, k := range kinds {
		kindRef := b.ref(b.addKind(k.obj, k.gvk))
		var listRef map[string]any
		if k.list != nil {
			listRef = b.ref(b.addKind(k.list, k.gvk.GroupVersion().WithKind(k.gvk.Kind+"List")))
		}
		if k.stored == nil {
			for _, op := range serviceOps(k, kindRef, listRef) {
				ops, _ := paths[op.path].(map[string]any)
				if ops == nil {
					ops = map[string]any{"parameters": v2PathParams(op.path, k.gvk.Kind)}
					paths[op.path] = ops
				}
				ops[op.method] = v2ServiceOperation(k, op, kindRef)
			}
			continue
		}
		paths[objectPath(k.stored)] = openAPIV2Operations(k.stored, kindRef, b.ref(patchName))
	}
	return map[string]any{
		"swagger":     "2.0",
		"info":        map[string]string{"title": "Kubernetes", "version": Version.GitVersion},
		"paths":       paths,
		"definitions": b.schemas,
		"securityDefinitions": map[string]any{
			"BearerToken": map[string]string{"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"},
		},
		"security": []any{map[string]any{"BearerToken": []string{}}},
	}
}

// v2PathParams are the parameters of path: {name} and {namespace} when it
// has them, and pretty.
func v2PathParams(path, kind string) []any {
	var out []any
	if strings.Contains(path, "{name}") {
		out = append(out, map[string]any{"name": "name", "in": "path", "required": true, "type": "string", "uniqueItems": true, "description": "name of the " + kind})
	}
	if strings.Contains(path, "{namespace}") {
		out = append(out, map[string]any{"name": "namespace", "in": "path", "required": true, "type": "string", "uniqueItems": true,
			"description": "object name and auth scope, such as for teams and projects"})
	}
	return append(out, v2Query("pretty", "string", "If 'true', then the output is pretty printed."))
}

func v2Query(name, typ, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "type": typ, "uniqueItems": true, "description": desc}
}

// v2Operation is an operation's common fields, as kube-apiserver writes
// them.
func v2Operation(gvk schema.GroupVersionKind, action, description, operationID string) map[string]any {
	tag := strings.ReplaceAll(gvk.Group, ".", "")
	if tag == "" {
		tag = "core"
	}
	return map[string]any{
		"description":                     description,
		"consumes":                        []string{"*/*"},
		"produces":                        []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"},
		"schemes":                         []string{"https"},
		"tags":                            []string{tag + "_" + gvk.Version},
		"operationId":                     operationID,
		"x-kubernetes-action":             action,
		"x-kubernetes-group-version-kind": gvkExtension(gvk),
	}
}

func v2Responses(ref map[string]any, codes ...string) map[string]any {
	out := map[string]any{"401": map[string]string{"description": "Unauthorized"}}
	for _, c := range codes {
		out[c] = map[string]any{"description": http.StatusText(atoi(c)), "schema": ref}
	}
	return out
}

func v2Body(ref map[string]any) map[string]any {
	return map[string]any{"name": "body", "in": "body", "required": true, "schema": ref}
}

// v2ServiceOperation is one operation of an APIService's kind.
func v2ServiceOperation(k openAPIKind, op serviceOp, kindRef map[string]any) map[string]any {
	o := v2Operation(k.gvk, op.action, op.action+" "+k.gvk.Kind, op.action+operationKind(k.gvk, k.resource.Namespaced))
	o["responses"] = v2Responses(op.response, "200")
	if op.body {
		o["parameters"] = []any{v2Body(kindRef)}
		o["responses"] = v2Responses(op.response, "200", "201")
	}
	return o
}

// openAPIV2Operations are the GET, PUT and PATCH of one named object of k,
// shaped as kube-apiserver's.
func openAPIV2Operations(k *registry.Kind, kindRef, patchRef map[string]any) map[string]any {
	writeParams := []any{
		v2Query("dryRun", "string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"),
		v2Query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
		v2Query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"),
	}
	id := operationKind(k.GVK(), k.Namespaced)
	get := v2Operation(k.GVK(), "get", "read the specified "+k.Kind, "read"+id)
	get["responses"] = v2Responses(kindRef, "200")
	put := v2Operation(k.GVK(), "put", "replace the specified "+k.Kind, "replace"+id)
	put["parameters"] = append([]any{v2Body(kindRef)}, writeParams...)
	put["responses"] = v2Responses(kindRef, "200", "201")
	patch := v2Operation(k.GVK(), "patch", "partially update the specified "+k.Kind, "patch"+id)
	patch["consumes"] = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
	patch["parameters"] = append(append([]any{v2Body(patchRef)}, writeParams...),
		v2Query("force", "boolean", "Force is going to \"force\" Apply requests."))
	patch["responses"] = v2Responses(kindRef, "200", "201")
	return map[string]any{"get": get, "put": put, "patch": patch, "parameters": v2PathParams(objectPath(k), k.Kind)}
}

// operationKind is the suffix of kube-apiserver's operation ids:
// AppsV1NamespacedDeployment, CoreV1Node.
func operationKind(gvk schema.GroupVersionKind, namespaced bool) string {
	g := "Core"
	if gvk.Group != "" {
		g = ""
		for _, part := range strings.Split(strings.TrimSuffix(gvk.Group, ".k8s.io"), ".") {
			g += strings.ToUpper(part[:1]) + part[1:]
		}
	}
	v := strings.ToUpper(gvk.Version[:1]) + gvk.Version[1:]
	if namespaced {
		return g + v + "Namespaced" + gvk.Kind
	}
	return g + v + gvk.Kind
}

// serveOpenAPIV2 answers /openapi/v2 in the first form the Accept header
// names that shoal serves (JSON when none is named), 406 otherwise.
func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	set, err := s.openAPIV2()
	if err != nil {
		wire.WriteStatus(w, internalError(err))
		return
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	w.Header().Add("Vary", "Accept")
	for _, part := range strings.Split(accept, ",") {
		// Not mime.ParseMediaType: kube-openapi's protobuf type has an @.
		mt, _, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		var data []byte
		var ctype string
		switch mt {
		case openAPIV2Proto, openAPIV2ProtoRequested:
			data, ctype = set.proto, openAPIV2Proto
		case openAPIV2JSON, "application/*", "*/*":
			data, ctype = set.json.json, openAPIV2JSON
		default:
			continue
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Etag", strconv.Quote(set.json.etag))
		http.ServeContent(w, r, "", set.built, bytes.NewReader(data))
		return
	}
	w.WriteHeader(http.StatusNotAcceptable)
}
