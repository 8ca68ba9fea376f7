package streaming

import (
	"encoding/json"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// writeStatus answers with err as a metav1.Status, as the API server does.
func writeStatus(w http.ResponseWriter, err error) { apiserver.WriteStatus(w, err) }

// statusJSON encodes a Status for an exec's error channel.
func statusJSON(st *metav1.Status) []byte {
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(st)
	return b
}
