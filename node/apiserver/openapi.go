package apiserver

import (
	"net/http"
	"strings"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// The OpenAPI v3 answers are the smallest documents with which kubectl
// trusts the server to validate (see KUBECTL-WIRE.md §7): an index of group
// versions, and per group version one PATCH operation per kind declaring
// its group-version-kind and the fieldValidation query parameter. shoal
// validates every write itself, with Kubernetes' rules.

func gvPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func (s *Server) serveOpenAPIIndex(w http.ResponseWriter, r *http.Request) {
	paths := map[string]any{}
	for _, gv := range groupVersions() {
		p := gvPath(gv.Group, gv.Version)
		paths[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p}
	}
	writeJSON(w, http.StatusOK, map[string]any{"paths": paths})
}

func (s *Server) serveOpenAPIDoc(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3/"), "/")
	paths := map[string]any{}
	for _, k := range registry.All() {
		if gvPath(k.Group, k.Version) != p {
			continue
		}
		op := map[string]any{
			"x-kubernetes-group-version-kind": map[string]string{"group": k.Group, "version": k.Version, "kind": k.Kind},
			"parameters": []map[string]string{
				{"name": "fieldValidation", "in": "query"},
				{"name": "dryRun", "in": "query"},
				{"name": "fieldManager", "in": "query"},
			},
		}
		prefix := "/" + p + "/"
		if k.Namespaced {
			prefix += "namespaces/{namespace}/"
		}
		paths[prefix+k.Resource+"/{name}"] = map[string]any{"patch": op, "put": op}
	}
	if len(paths) == 0 {
		writeStatus(w, notFoundPath())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]string{"title": "Kubernetes", "version": Version.GitVersion},
		"paths":   paths,
	})
}
