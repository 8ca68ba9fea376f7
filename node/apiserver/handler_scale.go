package apiserver

import (
	"encoding/json"
	"net/http"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// scaleOf builds the autoscaling/v1 Scale view of a deployment, replica set
// or replication controller.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	sc := &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"}}
	var meta metav1.ObjectMeta
	switch o := obj.(type) {
	case *appsv1.Deployment:
		meta, sc.Spec.Replicas, sc.Status.Replicas = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil {
			return nil, err
		}
		sc.Status.Selector = sel.String()
	case *appsv1.ReplicaSet:
		meta, sc.Spec.Replicas, sc.Status.Replicas = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil {
			return nil, err
		}
		sc.Status.Selector = sel.String()
	case *corev1.ReplicationController:
		meta, sc.Spec.Replicas, sc.Status.Replicas = o.ObjectMeta, deref(o.Spec.Replicas), o.Status.Replicas
		sc.Status.Selector = labels.SelectorFromSet(o.Spec.Selector).String()
	default:
		return nil, apierrors.NewBadRequest("scale is not supported for this kind")
	}
	sc.ObjectMeta = metav1.ObjectMeta{
		Name: meta.Name, Namespace: meta.Namespace, UID: meta.UID,
		ResourceVersion: meta.ResourceVersion, CreationTimestamp: meta.CreationTimestamp,
	}
	return sc, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// serveScale answers GET, PUT and PATCH on the scale subresource.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, q *request) error {
	scaleGR := schema.GroupResource{Group: "autoscaling", Resource: "scale"}
	if r.Method == http.MethodGet {
		if err := s.readConsistency(r.Context(), r); err != nil {
			return err
		}
	}
	var body []byte
	if r.Method == http.MethodPut || r.Method == http.MethodPatch {
		var err error
		if body, err = readBody(r); err != nil {
			return err
		}
	} else if r.Method != http.MethodGet {
		return methodNotAllowed()
	}
	for attempt := 0; ; attempt++ {
		current, err := s.getForWrite(r.Context(), q, q.name, 0)
		if err != nil {
			return err
		}
		typed, err := decodeStored(q.kind, current.Raw)
		if err != nil {
			return internalError(err)
		}
		sc, err := scaleOf(typed)
		if err != nil {
			return err
		}
		if r.Method == http.MethodGet {
			wire.WriteJSON(w, http.StatusOK, sc)
			return nil
		}
		scRaw, _ := json.Marshal(sc)
		var want autoscalingv1.Scale
		if r.Method == http.MethodPut {
			if err := decodeInto(r, body, &want); err != nil {
				return err
			}
		} else {
			newRaw, err := applyPatch(q.kind, types.PatchType(mediaType(r)), scRaw, body)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(newRaw, &want); err != nil {
				return badRequest("invalid Scale: %v", err)
			}
		}
		if want.Spec.Replicas < 0 {
			return apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, q.name, fieldErrors("spec.replicas", want.Spec.Replicas, "must be greater than or equal to 0"))
		}
		precondition := current.ResourceVersion
		if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
			n, err := strconv.ParseUint(want.ResourceVersion, 10, 64)
			if err != nil {
				return badRequest("invalid resourceVersion %q", want.ResourceVersion)
			}
			precondition = n
			attempt = maxPatchRetries
		}
		setReplicas(typed, want.Spec.Replicas)
		qq := *q
		qq.subresource = ""
		stored, err := s.update(r.Context(), r, &qq, typed, current, precondition)
		if apierrors.IsConflict(err) && attempt < maxPatchRetries {
			if err := s.prop.ConsistentRead(r.Context()); err != nil {
				return storeError(err, scaleGR, q.name)
			}
			continue
		}
		if err != nil {
			return err
		}
		updated, err := decodeStored(q.kind, stored)
		if err != nil {
			return internalError(err)
		}
		out, err := scaleOf(updated)
		if err != nil {
			return err
		}
		wire.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}
