package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// request is one parsed resource request.
type request struct {
	kind        *registry.Kind
	namespace   string // from the URL; "" for cluster-scoped or all namespaces
	name        string
	subresource string // "status", "scale", "log", ...
	rest        string // what follows the subresource (proxy paths)
}

func (q *request) gr() schema.GroupResource { return q.kind.GroupResource() }

// route builds the top-level mux: health, version, discovery, OpenAPI, extra
// handlers, then resources.
func (s *Server) route() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/livez", s.serveHealth)
	mux.HandleFunc("/readyz", s.serveReady)
	for prefix, h := range s.cfg.Unauthenticated {
		mux.Handle(prefix, h)
	}
	authed := http.NewServeMux()
	authed.HandleFunc("/version", s.serveVersion)
	authed.HandleFunc("/api", s.serveAPIVersions)
	authed.HandleFunc("/apis", s.serveAPIGroups)
	authed.HandleFunc("/openapi/v2", s.serveOpenAPIV2)
	authed.HandleFunc("/openapi/v3", s.serveOpenAPIIndex)
	authed.HandleFunc("/openapi/v3/", s.serveOpenAPIDoc)
	authed.HandleFunc("/api/", s.serveResource)
	authed.HandleFunc("/apis/", s.serveResource)
	for prefix, h := range s.cfg.Authenticated {
		authed.Handle(prefix, h)
	}
	mux.Handle("/", s.authenticate(authed))
	return mux
}

// serveResource parses /api/v1/... and /apis/GROUP/VERSION/... and
// dispatches to the verb handler.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	var group, version string
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		version = parts[1]
		parts = parts[2:]
	case parts[0] == "apis" && len(parts) >= 3:
		group, version = parts[1], parts[2]
		parts = parts[3:]
	case parts[0] == "apis" && len(parts) == 2:
		s.serveAPIGroup(w, r, parts[1])
		return
	default:
		wire.WriteStatus(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if len(parts) == 0 {
		s.serveResourceList(w, r, group, version)
		return
	}
	if svc := s.apiService(group, version); svc != nil {
		svc.Handler.ServeHTTP(w, r)
		return
	}
	q, err := parseResourcePath(group, version, parts)
	if err != nil {
		wire.WriteStatus(w, err)
		return
	}
	s.dispatch(w, r, q)
}

// parseResourcePath reads [namespaces/NS/]RESOURCE[/NAME[/SUB[/REST...]]].
func parseResourcePath(group, version string, parts []string) (*request, error) {
	q := &request{}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		if k, ok := registry.Lookup(group, version, parts[2]); ok && k.Namespaced {
			q.namespace = parts[1]
			parts = parts[2:]
		}
	}
	k, ok := registry.Lookup(group, version, parts[0])
	if !ok {
		return nil, wire.NotFoundPath()
	}
	q.kind = k
	if len(parts) > 1 {
		q.name = parts[1]
	}
	if len(parts) > 2 {
		q.subresource = parts[2]
		q.rest = strings.Join(parts[3:], "/")
	}
	if q.subresource != "" && !hasSubresource(k, q.subresource) {
		return nil, wire.NotFoundPath()
	}
	if k.Namespaced && q.name != "" && q.namespace == "" {
		return nil, wire.NotFoundPath()
	}
	return q, nil
}

func hasSubresource(k *registry.Kind, name string) bool {
	for _, sr := range k.Subresources {
		if sr.Name == name {
			return true
		}
	}
	return false
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return []string{""}
	}
	return strings.Split(p, "/")
}

// methodNotAllowed is kube-apiserver's answer to a method the path does not
// serve (POST on an object, PUT on a collection).
func methodNotAllowed() error {
	return apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false)
}

// dispatch picks the handler for the method and the shape of the path.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, q *request) {
	var err error
	switch {
	case q.subresource == "binding":
		err = s.serveBinding(w, r, q)
	case q.subresource == "scale":
		err = s.serveScale(w, r, q)
	case q.subresource == "eviction":
		err = s.serveEviction(w, r, q)
	case q.subresource == "status" || q.subresource == "":
		err = s.serveObjectVerb(w, r, q)
	case q.subresource != "" && s.cfg.Subresources[q.subresource] != nil:
		s.cfg.Subresources[q.subresource].ServeSubresource(w, r, q.kind.GroupResource().String(), q.namespace, q.name, q.rest)
		return
	default:
		err = apierrors.NewNotFound(q.gr(), q.name+"/"+q.subresource)
	}
	if err != nil {
		wire.WriteStatus(w, err)
	}
}

func (s *Server) serveObjectVerb(w http.ResponseWriter, r *http.Request, q *request) error {
	collection := q.name == ""
	if collection && q.kind.Namespaced && q.namespace == "" && r.Method != http.MethodGet {
		// Across all namespaces a collection is only listed and watched, as
		// in kube-apiserver: no cluster-wide create or deletecollection.
		return methodNotAllowed()
	}
	switch r.Method {
	case http.MethodGet:
		if isWatch(r) {
			return s.serveWatch(w, r, q)
		}
		if collection {
			return s.serveList(w, r, q)
		}
		return s.serveGet(w, r, q)
	case http.MethodPost:
		if !collection || q.subresource != "" {
			return methodNotAllowed()
		}
		return s.serveCreate(w, r, q)
	case http.MethodPut:
		if collection {
			return methodNotAllowed()
		}
		return s.serveUpdate(w, r, q)
	case http.MethodPatch:
		if collection {
			return methodNotAllowed()
		}
		return s.servePatch(w, r, q)
	case http.MethodDelete:
		if q.subresource != "" {
			return methodNotAllowed()
		}
		if collection {
			return s.serveDeleteCollection(w, r, q)
		}
		return s.serveDelete(w, r, q)
	}
	return methodNotAllowed()
}

func isWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}
