package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
)

// bindingHandler is a test-only pods/binding subresource with
// kube-apiserver's semantics, for WithBindingSubresource: POST a Binding,
// and in one write the pod gets spec.nodeName = target.name and
// PodScheduled=True. It answers 201 with a Success Status; 409 when the pod
// is already bound, being deleted, or the binding's uid is not the pod's;
// 404 when the pod is gone. It stands in for the API until the API serves
// binding itself.
type bindingHandler struct {
	store *consensus.Store
	prop  consensus.Proposer
}

var _ apiserver.SubresourceHandler = (*bindingHandler)(nil)

func withBinding(c *envConfig) {
	cfg := &c.api
	if cfg.Subresources == nil {
		cfg.Subresources = map[string]apiserver.SubresourceHandler{}
	}
	cfg.Subresources["binding"] = &bindingHandler{store: cfg.Store, prop: cfg.Proposer}
}

func (h *bindingHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, resource, namespace, name, _ string) {
	if r.Method != http.MethodPost || resource != "pods" {
		writeTestStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "only POST pods/NAME/binding")
		return
	}
	body, err := io.ReadAll(r.Body)
	var b corev1.Binding
	if err == nil {
		err = json.Unmarshal(body, &b)
	}
	if err != nil || b.Target.Name == "" {
		writeTestStatus(w, http.StatusBadRequest, "BadRequest", "a Binding with target.name is required")
		return
	}
	for attempt := 0; ; attempt++ {
		obj, err := h.store.Get("pods", namespace, name)
		if errors.Is(err, consensus.ErrNotFound) {
			writeTestStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("pods %q not found", name))
			return
		}
		var pod corev1.Pod
		if err == nil {
			err = json.Unmarshal(obj.Raw, &pod)
		}
		if err != nil {
			writeTestStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		switch {
		case b.UID != "" && b.UID != pod.UID:
			writeTestStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: Precondition failed: UID in precondition: %s, UID in object meta: %s", name, b.UID, pod.UID))
			return
		case pod.DeletionTimestamp != nil:
			writeTestStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: pod %s is being deleted, cannot be assigned to a host", name, name))
			return
		case pod.Spec.NodeName != "":
			writeTestStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: pod %s is already assigned to node %q", name, name, pod.Spec.NodeName))
			return
		}
		pod.Spec.NodeName = b.Target.Name
		setCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, time.Now())
		raw, _ := json.Marshal(&pod)
		_, err = h.prop.Propose(r.Context(), &consensus.Command{
			Op: consensus.OpUpdate, Resource: "pods", Namespace: namespace, Name: name,
			Object: raw, ResourceVersion: obj.ResourceVersion,
		})
		if errors.Is(err, consensus.ErrConflict) && attempt < 8 {
			continue // another writer got there first: look again
		}
		if err != nil {
			writeTestStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		writeTestStatus(w, http.StatusCreated, "", "")
		return
	}
}

func writeTestStatus(w http.ResponseWriter, code int, reason, msg string) {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: int32(code)}
	if code >= 300 {
		st.Status, st.Reason, st.Message = metav1.StatusFailure, metav1.StatusReason(reason), msg
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&st)
}

// TestBindingSubresource schedules through POST pods/NAME/binding.
func TestBindingSubresource(t *testing.T) {
	e := newEnv(t, withBinding)
	e.readyNode("node-a", "1", "1Gi")
	e.start(WithBindingSubresource())
	e.pod("a", "1", "")
	e.pod("b", "1", "")
	e.eventually(10*time.Second, func() error {
		if err := e.bound("a"); err != nil {
			return err
		}
		c := podScheduled(e.getPod("b"))
		if c == nil || c.Message != "0/1 nodes are available: 1 Insufficient cpu." {
			return fmt.Errorf("b: PodScheduled %+v, want Insufficient cpu", c)
		}
		if n := len(e.events("a", "Scheduled")); n != 1 {
			return fmt.Errorf("%d Scheduled events for a, want 1", n)
		}
		return nil
	})
}
