package wire

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SubresourceHandler serves one subresource of an object, e.g. a pod's log.
// resource is the group-resource string ("pods"); rest is the path after the
// subresource (for proxy). The API server has authenticated the request and
// checked the verb; the handler answers every outcome itself, with
// WriteStatus for errors, and may hijack the connection for an upgrade.
type SubresourceHandler interface {
	ServeSubresource(w http.ResponseWriter, r *http.Request, resource, namespace, name, rest string)
}

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
