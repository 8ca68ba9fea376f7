package apitest

import (
	"net/http"
	"strings"
	"sync"
)

// Writes records the write requests the API server receives (every
// method but GET), so a test can count what a pass wrote. Pass it to New
// with WithWrites.
type Writes struct {
	mu  sync.Mutex
	log []string
}

// WithWrites records every write request into w, before the handler (and
// a WithHandler wrapper given before it) sees it.
func WithWrites(w *Writes) Option {
	return func(c *config) {
		inner := c.wrap
		c.wrap = func(h http.Handler) http.Handler {
			if inner != nil {
				h = inner(h)
			}
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet {
					w.mu.Lock()
					w.log = append(w.log, r.Method+" "+r.URL.Path)
					w.mu.Unlock()
				}
				h.ServeHTTP(rw, r)
			})
		}
	}
}

// Take returns the writes recorded since the last Take ("PUT
// /apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-x7k2p")
// whose path contains substr ("" for all), and forgets every write
// recorded.
func (w *Writes) Take(substr string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range w.log {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	w.log = nil
	return out
}
