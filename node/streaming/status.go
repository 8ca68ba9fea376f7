package streaming

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// statusJSON encodes a Status for an exec's error channel.
func statusJSON(st *metav1.Status) []byte {
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(st)
	return b
}
