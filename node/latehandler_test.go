package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLateHandler: before its part is up a lateHandler answers 503 as a
// Kubernetes Status (what kubectl and the peers read), then it serves
// with the part's handler.
func TestLateHandler(t *testing.T) {
	var l lateHandler
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/shoal/v1/node/stats/summary", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("before set: expected 503 application/json, seen %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var st metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("before set: expected a Status, seen %q: %v", rec.Body.String(), err)
	}
	want := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Reason: metav1.StatusReasonServiceUnavailable, Code: http.StatusServiceUnavailable,
		Message: "this node runs no container runtime (yet)",
	}
	if st.Kind != want.Kind || st.APIVersion != want.APIVersion || st.Status != want.Status || st.Reason != want.Reason || st.Code != want.Code || st.Message != want.Message {
		t.Errorf("before set: expected %+v\n               seen %+v", want, st)
	}

	l.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	rec = httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "up" {
		t.Errorf("after set: expected 200 \"up\", seen %d %q", rec.Code, rec.Body.String())
	}
}
