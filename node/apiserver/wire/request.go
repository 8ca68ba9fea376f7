package wire

import (
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WantsTable says whether the client's Accept asks for a JSON meta.k8s.io
// Table before anything else shoal can produce (kubectl get lists the
// Table first). Table forms shoal does not encode (protobuf, YAML) are
// skipped in favour of the client's next choice.
func WantsTable(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			if mt == "application/json" {
				return true
			}
			continue
		}
		if mt == "application/json" || mt == "*/*" || mt == "application/yaml" {
			return false
		}
	}
	return false
}

// NotFoundPath is kube-apiserver's answer to a path it does not serve: a
// 404 NotFound Status naming no resource, which clients such as kubectl
// read as "this server has no such API" rather than "no such object".
func NotFoundPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "the server could not find the requested resource", 0, false)
}

// WantsProtobuf says whether the client's Accept puts Kubernetes'
// protobuf before every JSON or YAML form (client-go's typed clients send
// "application/vnd.kubernetes.protobuf,application/json"). Forms with
// parameters (Tables, PartialObjectMetadata) are left to WantsTable and
// the client's next choice.
func WantsProtobuf(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["as"] != "" {
			continue
		}
		switch mt {
		case "application/vnd.kubernetes.protobuf":
			return true
		case "application/json", "application/yaml", "application/*", "*/*":
			return false
		}
	}
	return false
}
