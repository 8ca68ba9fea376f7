package apiserver

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// The OpenAPI v3 answers: an index of group versions, and per group version
// a document with one path per kind (GET, PUT and PATCH on the named
// object) and components.schemas built from the Go types.
//
// With the PATCH operation declaring its group-version-kind and the
// fieldValidation query parameter, kubectl trusts the server to validate
// and skips its own schema check (without them `kubectl apply` fails
// unless given --validate=false, or falls back to a protobuf /openapi/v2);
// shoal validates every write itself. The schemas
// serve `kubectl explain`, and since PATCH declares strategic merge patch,
// kubectl's client-side apply computes its patches from them.
//
// The documents describe the stored kinds and those the APIServices serve
// (openapi_kinds.go). They never change while the process runs: they are
// built once, on first use, and served as bytes. As kube-apiserver does, the index
// points at each document with ?hash=<SHA-512 of the document>, and a
// request carrying the right hash may be cached for good.

func gvPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

// openAPIBody is one served document and its ETag (the SHA-512, in
// uppercase hex as kube-openapi writes it).
type openAPIBody struct {
	json []byte
	etag string
}

func newOpenAPIBody(v any) (openAPIBody, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return openAPIBody{}, err
	}
	return openAPIBody{json: b, etag: fmt.Sprintf("%X", sha512.Sum512(b))}, nil
}

// openAPIV3Set is the v3 index and every group version's document.
type openAPIV3Set struct {
	built time.Time
	index openAPIBody
	docs  map[string]openAPIBody // by gvPath
}

// openAPICache builds each version's documents once per server, on first
// use: the kinds never change while the process runs.
type openAPICache struct {
	v3once sync.Once
	v3     openAPIV3Set
	v3err  error
	v2once sync.Once
	v2     openAPIV2Set
	v2err  error
}

func (s *Server) openAPIV3() (openAPIV3Set, error) {
	s.openapi.v3once.Do(func() { s.openapi.v3, s.openapi.v3err = buildOpenAPIV3(openAPIKinds(s.cfg.APIServices)) })
	return s.openapi.v3, s.openapi.v3err
}

func (s *Server) openAPIV2() (openAPIV2Set, error) {
	s.openapi.v2once.Do(func() { s.openapi.v2, s.openapi.v2err = buildOpenAPIV2(openAPIKinds(s.cfg.APIServices)) })
	return s.openapi.v2, s.openapi.v2err
}

// buildOpenAPIV3 builds the index and the document of every group version
// of kinds.
func buildOpenAPIV3(kinds []openAPIKind) (openAPIV3Set, error) {
	docs := map[string]openAPIBody{}
	paths := map[string]any{}
	var order []string
	for _, k := range kinds {
		p := gvPath(k.gvk.Group, k.gvk.Version)
		if _, ok := paths[p]; ok {
			continue
		}
		paths[p] = nil
		order = append(order, p)
	}
	for _, p := range order {
		body, err := newOpenAPIBody(openAPIDocument(p, kinds))
		if err != nil {
			return openAPIV3Set{}, fmt.Errorf("openapi %s: %w", p, err)
		}
		docs[p] = body
		u := url.URL{Path: "/openapi/v3/" + p, RawQuery: url.Values{"hash": {body.etag}}.Encode()}
		paths[p] = map[string]string{"serverRelativeURL": u.String()}
	}
	index, err := newOpenAPIBody(map[string]any{"paths": paths})
	if err != nil {
		return openAPIV3Set{}, fmt.Errorf("openapi index: %w", err)
	}
	return openAPIV3Set{built: time.Now(), index: index, docs: docs}, nil
}

// openAPIDocument is the document of the group version at path p
// ("api/v1", "apis/apps/v1").
func openAPIDocument(p string, kinds []openAPIKind) map[string]any {
	b := newSchemaBuilder()
	patchName := "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	b.schemas[patchName] = map[string]any{"type": "object", "description": leafDescriptions[patchName]}
	paths := map[string]any{}
	for _, k := range kinds {
		if gvPath(k.gvk.Group, k.gvk.Version) != p {
			continue
		}
		kindRef := schemaRef(b.addKind(k.obj, k.gvk))
		var listRef map[string]any
		if k.list != nil {
			listRef = schemaRef(b.addKind(k.list, k.gvk.GroupVersion().WithKind(k.gvk.Kind+"List")))
		}
		if k.stored == nil {
			for _, op := range serviceOps(k, kindRef, listRef) {
				o := map[string]any{
					"x-kubernetes-group-version-kind": gvkExtension(k.gvk),
					"x-kubernetes-action":             op.action,
					"responses":                       v3Responses(op.response, "200"),
				}
				if op.body {
					o["requestBody"] = map[string]any{"required": true, "content": contentOf(kindRef, "*/*")}
					o["responses"] = v3Responses(op.response, "200", "201")
				}
				ops, _ := paths[op.path].(map[string]any)
				if ops == nil {
					ops = map[string]any{}
					paths[op.path] = ops
				}
				ops[op.method] = o
			}
			continue
		}
		gvk := gvkExtension(k.gvk)
		params := []map[string]string{
			{"name": "dryRun", "in": "query"},
			{"name": "fieldManager", "in": "query"},
			{"name": "fieldValidation", "in": "query"},
		}
		paths[objectPath(k.stored)] = map[string]any{
			"get": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "get",
				"responses":                       v3Responses(kindRef, "200"),
			},
			"put": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "put",
				"parameters":                      params,
				"requestBody":                     map[string]any{"required": true, "content": contentOf(kindRef, "*/*")},
				"responses":                       v3Responses(kindRef, "200", "201"),
			},
			"patch": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "patch",
				"parameters":                      append(params, map[string]string{"name": "force", "in": "query"}),
				"requestBody": map[string]any{"required": true, "content": contentOf(schemaRef(patchName),
					"application/apply-patch+yaml", "application/json-patch+json",
					"application/merge-patch+json", "application/strategic-merge-patch+json")},
				"responses": v3Responses(kindRef, "200", "201"),
			},
		}
	}
	return map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]string{"title": "Kubernetes", "version": Version.GitVersion},
		"paths":      paths,
		"components": map[string]any{"schemas": b.schemas},
	}
}

// v3Responses answers each code with the schema ref.
func v3Responses(ref map[string]any, codes ...string) map[string]any {
	out := map[string]any{}
	for _, c := range codes {
		out[c] = map[string]any{
			"description": http.StatusText(atoi(c)),
			"content":     contentOf(ref, "application/json", "application/yaml"),
		}
	}
	return out
}

// contentOf is an OpenAPI content map giving every media type the schema.
func contentOf(schema map[string]any, mediaTypes ...string) map[string]any {
	out := map[string]any{}
	for _, m := range mediaTypes {
		out[m] = map[string]any{"schema": schema}
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (s *Server) serveOpenAPIIndex(w http.ResponseWriter, r *http.Request) {
	set, err := s.openAPIV3()
	if err != nil {
		wire.WriteStatus(w, internalError(err))
		return
	}
	serveOpenAPIBody(w, r, set.index, set.built)
}

func (s *Server) serveOpenAPIDoc(w http.ResponseWriter, r *http.Request) {
	set, err := s.openAPIV3()
	if err != nil {
		wire.WriteStatus(w, internalError(err))
		return
	}
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3/"), "/")
	doc, ok := set.docs[p]
	if !ok {
		wire.WriteStatus(w, wire.NotFoundPath())
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.etag {
			// A stale link: send the client to the current document.
			u := url.URL{Path: "/openapi/v3/" + p, RawQuery: url.Values{"hash": {doc.etag}}.Encode()}
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		// The hash names this content: it may be cached for good.
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
	}
	serveOpenAPIBody(w, r, doc, set.built)
}

// serveOpenAPIBody answers with the document and its ETag; a matching
// If-None-Match gets 304 Not Modified (http.ServeContent).
func serveOpenAPIBody(w http.ResponseWriter, r *http.Request, body openAPIBody, built time.Time) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", strconv.Quote(body.etag))
	w.Header().Add("Vary", "Accept")
	http.ServeContent(w, r, "", built, bytes.NewReader(body.json))
}
