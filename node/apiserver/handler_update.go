package apiserver

import (
	"context"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
)

// serveUpdate answers PUT on an object or its status. With a
// resourceVersion the update is conditional (409 Conflict when the object
// changed since); without one it applies to the object as stored, retried
// when another writer got there first (see update_rules.go).
func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, q *request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	sent, err := decodeObject(r, q.kind, body)
	if err != nil {
		return err
	}
	meta := objectMeta(sent)
	if meta.Name != q.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", meta.Name, q.name)
	}
	var precondition uint64
	if meta.ResourceVersion != "" {
		n, err := strconv.ParseUint(meta.ResourceVersion, 10, 64)
		if err != nil {
			return badRequest("metadata.resourceVersion: Invalid value: %q: must be the resourceVersion of the object", meta.ResourceVersion)
		}
		precondition = n
	}
	for attempt := 0; ; attempt++ {
		old, err := s.getForWrite(r.Context(), q, q.name, precondition)
		if err != nil {
			return err
		}
		obj, expect := sent, precondition
		if precondition == 0 {
			// Unconditional: the update builds on the object read here,
			// and only lands if that is still the stored one.
			obj = sent.DeepCopyObject()
			expect = old.ResourceVersion
			objectMeta(obj).ResourceVersion = strconv.FormatUint(expect, 10)
		}
		stored, err := s.update(r.Context(), r, q, obj, old, expect)
		if precondition == 0 && apierrors.IsConflict(err) && attempt < maxPatchRetries {
			if err := s.prop.ConsistentRead(r.Context()); err != nil {
				return storeError(err, q.gr(), q.name)
			}
			continue
		}
		if err != nil {
			return err
		}
		s.writeObject(w, r, q.kind, http.StatusOK, stored, nil)
		return nil
	}
}

// update defaults, validates and stores obj as the new state of old,
// provided the stored resourceVersion still equals precondition (0: any).
func (s *Server) update(ctx context.Context, r *http.Request, q *request, obj runtime.Object, old *consensus.Object, precondition uint64) ([]byte, error) {
	k := q.kind
	meta := objectMeta(obj)
	if k.Namespaced {
		if meta.Namespace == "" {
			meta.Namespace = q.namespace
		}
		if meta.Namespace != q.namespace {
			return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	}
	oldTyped, err := decodeStored(k, old.Raw)
	if err != nil {
		return nil, internalError(err)
	}
	var alloc *servicealloc.Allocation
	beforeUpdate(meta, objectMeta(oldTyped))
	switch q.subresource {
	case "":
		if k.Default != nil {
			k.Default(obj)
		}
		if k.PrepareForUpdate != nil {
			k.PrepareForUpdate(obj, oldTyped)
		}
		// The stored status is kept (PreserveStatus), so it is not checked:
		// a bad status must never block updates of the spec or metadata.
		if errs := s.validate(k, obj, oldTyped); len(errs) > 0 {
			return nil, invalid(k.GVK().GroupKind(), q.name, errs)
		}
		// Keeps the allocated cluster IPs and node ports, assigns new ones.
		if alloc, err = s.allocate(obj, oldTyped); err != nil {
			return nil, err
		}
	case consensus.SubresourceStatus:
		// Kubernetes defaults every object it decodes, status updates
		// included (a LoadBalancer ingress IP gets ipMode VIP).
		if k.Default != nil {
			k.Default(obj)
		}
		if k.ValidateStatus != nil {
			if errs := k.ValidateStatus(obj, oldTyped); len(errs) > 0 {
				return nil, invalid(k.GVK().GroupKind(), q.name, errs)
			}
		}
	}
	if isDryRun(r) {
		raw, err := encodeObject(k, obj)
		if err != nil {
			return nil, internalError(err)
		}
		out, err := dryRunResult(k, q.subresource, old, raw)
		if err != nil {
			return nil, internalError(err)
		}
		return out, nil
	}
	for attempt := 0; ; attempt++ {
		raw, err := toStore(k, obj)
		if err != nil {
			return nil, internalError(err)
		}
		cmd := &consensus.Command{
			Op: consensus.OpUpdate, Resource: k.StoreResource(),
			Namespace: q.namespace, Name: q.name, Object: raw,
			ResourceVersion:           precondition,
			Subresource:               q.subresource,
			PreserveStatus:            k.HasStatus && q.subresource == "",
			AnnotationsBumpGeneration: k.AnnotationsBumpGeneration && q.subresource == "",
			AnnotationsWithStatus:     k.StatusTakesAnnotations && q.subresource == consensus.SubresourceStatus,
		}
		alloc.SetClaims(cmd)
		stored, err := s.prop.Propose(ctx, cmd)
		retry, err := alloc.RetryClaims(err, attempt, k.GroupResource())
		if retry {
			continue
		}
		if err != nil {
			return nil, storeError(err, k.GroupResource(), q.name)
		}
		if stored == nil {
			// The update removed the last finalizer of an object being deleted.
			return encodeObject(k, obj)
		}
		if stored, err = fromStore(k, stored); err != nil {
			return nil, internalError(err)
		}
		return stored.Raw, nil
	}
}
