package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// serveBinding answers POST pods/NAME/binding as kube-apiserver does: in
// one write the pod gets spec.nodeName and PodScheduled=True. A pod that is
// already bound, being deleted, or has another uid than the binding names
// gets 409 Conflict.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, q *request) error {
	if r.Method != http.MethodPost || q.gr().String() != "pods" {
		return methodNotAllowed()
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var b corev1.Binding
	if err := decodeInto(r, body, &b); err != nil {
		return err
	}
	if b.Target.Name == "" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, q.name, fieldErrors("target.name", "", "must not be empty"))
	}
	bindingGR := schema.GroupResource{Resource: "pods/binding"}
	for attempt := 0; ; attempt++ {
		current, err := s.getForWrite(r.Context(), q, q.name, 0)
		if err != nil {
			return err
		}
		var pod corev1.Pod
		if err := json.Unmarshal(current.Raw, &pod); err != nil {
			return internalError(err)
		}
		switch {
		case b.UID != "" && b.UID != pod.UID:
			return apierrors.NewConflict(bindingGR, q.name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", b.UID, pod.UID))
		case pod.DeletionTimestamp != nil:
			return apierrors.NewConflict(bindingGR, q.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", q.name))
		case pod.Spec.NodeName != "":
			return apierrors.NewConflict(bindingGR, q.name, fmt.Errorf("pod %s is already assigned to node %q", q.name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodScheduled(&pod.Status, s.now())
		raw, err := encodeObject(q.kind, &pod)
		if err != nil {
			return internalError(err)
		}
		_, err = s.prop.Propose(r.Context(), &consensus.Command{
			Op: consensus.OpUpdate, Resource: "pods", Namespace: q.namespace, Name: q.name,
			Object: raw, ResourceVersion: current.ResourceVersion,
		})
		if err != nil && apierrors.IsConflict(storeError(err, bindingGR, q.name)) && attempt < maxPatchRetries {
			if err := s.prop.ConsistentRead(r.Context()); err != nil {
				return storeError(err, bindingGR, q.name)
			}
			continue
		}
		if err != nil {
			return storeError(err, bindingGR, q.name)
		}
		st := successStatus()
		st.Code = http.StatusCreated
		wire.WriteJSON(w, http.StatusCreated, st)
		return nil
	}
}

func setPodScheduled(st *corev1.PodStatus, now time.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == corev1.PodScheduled {
			if st.Conditions[i].Status != corev1.ConditionTrue {
				st.Conditions[i].LastTransitionTime = metav1.NewTime(now)
			}
			st.Conditions[i].Status, st.Conditions[i].Reason, st.Conditions[i].Message = corev1.ConditionTrue, "", ""
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)})
}
