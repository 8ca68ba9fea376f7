package identity

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Authenticator is the API's authentication policy: a request is the
// cluster's admin when it presents a client certificate signed by the
// cluster CA (which APIServerTLS verified in the handshake) or the admin
// bearer token (AdminToken). There are no other users.
func (c *Cluster) Authenticator() func(*http.Request) bool {
	admin := []byte(c.AdminToken())
	return func(r *http.Request) bool {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			return true
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), admin) == 1
	}
}
