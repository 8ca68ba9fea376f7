package resourcemetrics

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

var _ http.Handler = (*Collector)(nil)

// ServeHTTP answers GET SummaryPath with the node's Summary as JSON.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != SummaryPath {
		wire.WriteStatus(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if r.Method != http.MethodGet {
		wire.WriteStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "stats"}, r.Method))
		return
	}
	wire.WriteJSON(w, http.StatusOK, c.Summary(r.Context()))
}
