package wire_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

func TestWriteStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		reason metav1.StatusReason
	}{
		{"api error", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "web"), http.StatusNotFound, metav1.StatusReasonNotFound},
		{"plain error", errors.New("disk on fire"), http.StatusInternalServerError, metav1.StatusReasonInternalError},
		{"not found path", wire.NotFoundPath(), http.StatusNotFound, metav1.StatusReasonNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			wire.WriteStatus(rec, tc.err)
			if rec.Code != tc.code || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("code %d, content type %q: want %d, application/json", rec.Code, rec.Header().Get("Content-Type"), tc.code)
			}
			var st metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if st.Kind != "Status" || st.APIVersion != "v1" || int(st.Code) != tc.code || st.Reason != tc.reason {
				t.Errorf("status %+v: want a v1 Status, code %d, reason %s", st, tc.code, tc.reason)
			}
		})
	}
}

func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	wire.WriteJSON(rec, http.StatusOK, map[string]any{"f": func() {}})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("code %d: want 500 for a value that cannot be encoded", rec.Code)
	}
}

func TestWantsTable(t *testing.T) {
	const table = "application/json;as=Table;v=v1;g=meta.k8s.io"
	for accept, want := range map[string]bool{
		table + ",application/json":                                                true,
		"application/json;as=Table;v=v1beta1;g=meta.k8s.io":                        true,
		"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io," + table: true,
		"application/json," + table:                                                false,
		"*/*":                                                                      false,
		"":                                                                         false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		r.Header.Set("Accept", accept)
		if got := wire.WantsTable(r); got != want {
			t.Errorf("WantsTable(Accept: %q) = %v, want %v", accept, got, want)
		}
	}
}
