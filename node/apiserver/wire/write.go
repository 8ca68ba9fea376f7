package wire

import (
	"encoding/json"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// encodeFailure is written when a response cannot be encoded: the client
// still gets a Status it can parse rather than half an object.
const encodeFailure = `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"encode response","code":500}`

// WriteStatus answers with err as a metav1.Status whose code is the HTTP
// status, as kube-apiserver does. An err that is not a Kubernetes API
// status becomes a 500 InternalError, so internal detail is still wrapped
// in a shape clients decode.
func WriteStatus(w http.ResponseWriter, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind = "Status"
	status.APIVersion = "v1"
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	WriteJSON(w, int(status.Code), &status)
}

// WriteJSON answers code with v encoded as JSON. If v cannot be encoded
// it answers a 500 Status instead.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(encodeFailure)
		code = http.StatusInternalServerError
	}
	WriteRawJSON(w, code, b)
}

// WriteRawJSON answers code with b, which is already JSON (a stored
// object, for instance, which need not be decoded to be served).
func WriteRawJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// A failed write means the client went away; there is no one to tell.
	_, _ = w.Write(b)
}
