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

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// The OpenAPI v3 answers: an index of group versions, and per group version
// a document with one path per kind (GET, PUT and PATCH on the named
// object) and components.schemas built from the Go types.
//
// With the PATCH operation declaring its group-version-kind and the
// fieldValidation query parameter, kubectl trusts the server to validate
// (KUBECTL-WIRE.md §7); shoal validates every write itself. The schemas
// serve `kubectl explain`, and since PATCH declares strategic merge patch,
// kubectl's client-side apply computes its patches from them.
//
// The documents never change while the process runs: they are built once,
// on first use, and served as bytes. As kube-apiserver does, the index
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

var openAPI struct {
	once  sync.Once
	built time.Time
	index openAPIBody
	docs  map[string]openAPIBody // by gvPath
	err   error
}

// openAPIDocs builds the index and every group version's document once.
func openAPIDocs() (openAPIBody, map[string]openAPIBody, time.Time, error) {
	openAPI.once.Do(func() {
		docs := map[string]openAPIBody{}
		paths := map[string]any{}
		for _, gv := range groupVersions() {
			p := gvPath(gv.Group, gv.Version)
			body, err := newOpenAPIBody(openAPIDocument(p))
			if err != nil {
				openAPI.err = fmt.Errorf("openapi %s: %w", p, err)
				return
			}
			docs[p] = body
			u := url.URL{Path: "/openapi/v3/" + p, RawQuery: url.Values{"hash": {body.etag}}.Encode()}
			paths[p] = map[string]string{"serverRelativeURL": u.String()}
		}
		index, err := newOpenAPIBody(map[string]any{"paths": paths})
		if err != nil {
			openAPI.err = fmt.Errorf("openapi index: %w", err)
			return
		}
		openAPI.index, openAPI.docs, openAPI.built = index, docs, time.Now()
	})
	return openAPI.index, openAPI.docs, openAPI.built, openAPI.err
}

// openAPIDocument is the document of the group version at path p
// ("api/v1", "apis/apps/v1").
func openAPIDocument(p string) map[string]any {
	b := newSchemaBuilder()
	patchName := "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	b.schemas[patchName] = map[string]any{"type": "object", "description": leafDescriptions[patchName]}
	paths := map[string]any{}
	for _, k := range registry.All() {
		if gvPath(k.Group, k.Version) != p {
			continue
		}
		gvk := gvkExtension(k.GVK())
		kindRef := schemaRef(b.addKind(k.New(), k.GVK()))
		b.addKind(k.NewList(), k.GroupVersion().WithKind(k.Kind+"List"))
		responses := func(codes ...string) map[string]any {
			out := map[string]any{}
			for _, c := range codes {
				out[c] = map[string]any{
					"description": http.StatusText(atoi(c)),
					"content":     contentOf(kindRef, "application/json", "application/yaml"),
				}
			}
			return out
		}
		params := []map[string]string{
			{"name": "dryRun", "in": "query"},
			{"name": "fieldManager", "in": "query"},
			{"name": "fieldValidation", "in": "query"},
		}
		prefix := "/" + p + "/"
		if k.Namespaced {
			prefix += "namespaces/{namespace}/"
		}
		paths[prefix+k.Resource+"/{name}"] = map[string]any{
			"get": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "get",
				"responses":                       responses("200"),
			},
			"put": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "put",
				"parameters":                      params,
				"requestBody":                     map[string]any{"required": true, "content": contentOf(kindRef, "*/*")},
				"responses":                       responses("200", "201"),
			},
			"patch": map[string]any{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "patch",
				"parameters":                      append(params, map[string]string{"name": "force", "in": "query"}),
				"requestBody": map[string]any{"required": true, "content": contentOf(schemaRef(patchName),
					"application/apply-patch+yaml", "application/json-patch+json",
					"application/merge-patch+json", "application/strategic-merge-patch+json")},
				"responses": responses("200", "201"),
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
	index, _, built, err := openAPIDocs()
	if err != nil {
		writeStatus(w, internalError(err))
		return
	}
	serveOpenAPIBody(w, r, index, built)
}

func (s *Server) serveOpenAPIDoc(w http.ResponseWriter, r *http.Request) {
	_, docs, built, err := openAPIDocs()
	if err != nil {
		writeStatus(w, internalError(err))
		return
	}
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3/"), "/")
	doc, ok := docs[p]
	if !ok {
		writeStatus(w, notFoundPath())
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
	serveOpenAPIBody(w, r, doc, built)
}

// serveOpenAPIBody answers with the document and its ETag; a matching
// If-None-Match gets 304 Not Modified (http.ServeContent).
func serveOpenAPIBody(w http.ResponseWriter, r *http.Request, body openAPIBody, built time.Time) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", strconv.Quote(body.etag))
	w.Header().Add("Vary", "Accept")
	http.ServeContent(w, r, "", built, bytes.NewReader(body.json))
}
