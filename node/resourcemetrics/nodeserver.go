package resourcemetrics

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver"
)

var _ http.Handler = (*Collector)(nil)

// ServeHTTP answers GET SummaryPath with the node's Summary as JSON.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != SummaryPath {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if r.Method != http.MethodGet {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "stats"}, r.Method))
		return
	}
	writeJSON(w, http.StatusOK, c.Summary(r.Context()))
}

func writeJSON(w http.ResponseWriter, code int, v any) { apiserver.WriteJSON(w, code, v) }

// writeStatus answers with err as a metav1.Status, as the API server does.
func writeStatus(w http.ResponseWriter, err error) { apiserver.WriteStatus(w, err) }
