package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// APIService is a group-version served by a handler rather than from the
// store (wire.APIService), named here for Config's users.
type APIService = wire.APIService

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
