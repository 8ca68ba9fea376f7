package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// APIService is a group-version served by a handler rather than from the
// store, as kube-aggregator serves an APIService (metrics.k8s.io is one).
// Discovery lists its group and resources; every request under
// /apis/GROUP/VERSION/ past discovery goes to Handler, authenticated,
// with its path unchanged.
type APIService struct {
	GroupVersion schema.GroupVersion
	// Resources are listed by /apis/GROUP/VERSION.
	Resources []metav1.APIResource
	// Types are zero objects of the Go types of the Resources' kinds (and
	// of their lists, named <Kind>List), for the OpenAPI documents.
	// Optional: a kind without its type has no model there.
	Types   []runtime.Object
	Handler http.Handler
}

// apiService is the APIService serving group/version, or nil.
func (s *Server) apiService(group, version string) *APIService {
	for i := range s.cfg.APIServices {
		if gv := s.cfg.APIServices[i].GroupVersion; gv.Group == group && gv.Version == version {
			return &s.cfg.APIServices[i]
		}
	}
	return nil
}

// allGroupVersions are the store's group versions, then the APIServices'.
func (s *Server) allGroupVersions() []schema.GroupVersion {
	out := groupVersions()
	for _, svc := range s.cfg.APIServices {
		out = append(out, svc.GroupVersion)
	}
	return out
}
