package apiserver

import (
	"net/http"
	"slices"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// serveEviction answers POST pods/NAME/eviction (policy/v1 Eviction), the
// request `kubectl drain` sends for each pod, as kube-apiserver does when
// no PodDisruptionBudget covers the pod (shoal serves none): the pod is
// deleted with the eviction's DeleteOptions (its grace period, its
// preconditions), so its kubelet stops it gracefully and its controller
// makes a replacement. 201 with a Success Status, as kube-apiserver.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, q *request) error {
	if r.Method != http.MethodPost || q.gr().String() != "pods" {
		return methodNotAllowed()
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var ev policyv1.Eviction
	if err := decodeInto(r, body, &ev); err != nil {
		return err
	}
	evictionGR := schema.GroupResource{Group: "policy", Resource: "evictions"}
	if ev.Name != "" && ev.Name != q.name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if slices.Contains(opts.DryRun, metav1.DryRunAll) && !isDryRun(r) {
		// delete reads dry-run from the query, where deletes carry it.
		qv := r.URL.Query()
		qv.Add("dryRun", metav1.DryRunAll)
		r.URL.RawQuery = qv.Encode()
	}
	if _, _, err := s.delete(r, q, q.name, opts); err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		if apierrors.IsConflict(err) {
			return apierrors.NewConflict(evictionGR, q.name, err)
		}
		return err
	}
	st := successStatus()
	st.Code = http.StatusCreated
	wire.WriteJSON(w, http.StatusCreated, st)
	return nil
}
