package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// authenticate refuses requests without valid credentials with a 401
// Status, as kube-apiserver does.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Authenticate != nil && !s.cfg.Authenticate(r) {
			wire.WriteStatus(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes+1)
		next.ServeHTTP(w, r)
	})
}
