package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/consensus"
)

// storeError translates a store or proposer error into the Kubernetes error
// a client expects for the object gr/name.
func storeError(err error, gr schema.GroupResource, name string) error {
	var st apierrors.APIStatus
	switch {
	case errors.As(err, &st):
		return err
	case errors.Is(err, consensus.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, consensus.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, consensus.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case errors.Is(err, consensus.ErrGone):
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %v", err))
	case errors.Is(err, consensus.ErrNotLeader):
		return apierrors.NewServiceUnavailable("no raft leader: the cluster has lost its quorum or is electing a leader")
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError("the request timed out waiting for the cluster", 1)
	case errors.Is(err, context.Canceled):
		return apierrors.NewTimeoutError("the request was cancelled", 0)
	}
	return internalError(err)
}

func internalError(err error) error {
	return apierrors.NewInternalError(err)
}

func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

func invalid(kind schema.GroupKind, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(kind, name, errs)
}

// WriteStatus answers with err as a metav1.Status, as the API's handlers
// do; for the node's handlers that stand in for a part not yet up.
func WriteStatus(w http.ResponseWriter, err error) { writeStatus(w, err) }

// WriteJSON answers with v encoded as JSON, as the API's handlers do.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }

// writeStatus answers with err as a metav1.Status.
func writeStatus(w http.ResponseWriter, err error) {
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
	writeJSON(w, int(status.Code), &status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"encode response","code":500}`)
		code = http.StatusInternalServerError
	}
	writeRawJSON(w, code, b)
}

func writeRawJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// successStatus is the body of a successful delete of a collection.
func successStatus() *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func fieldErrors(path string, value any, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}

func unsupportedMediaType(mt string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got " + mt + ")",
	}}
}
