package apiserver

import (
	"net/http"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// serveGet answers GET on one object (or its status).
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, q *request) error {
	if err := s.readConsistency(r.Context(), r); err != nil {
		return err
	}
	obj, err := s.get(q)
	if err != nil {
		return err
	}
	if wire.WantsTable(r) {
		return s.writeTable(w, r, q.kind, []*storedObject{{obj: obj}}, obj.ResourceVersion, "")
	}
	s.writeObject(w, r, q.kind, http.StatusOK, obj.Raw, nil)
	return nil
}
