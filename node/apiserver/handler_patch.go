package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// maxPatchRetries bounds how often an unconditional write (a patch, a PUT
// without resourceVersion, a scale) is re-applied after losing a race with
// another writer. kube-apiserver's GuaranteedUpdate retries as long as the
// request lasts; the bound only stops a spin, and is high enough that
// contention alone never turns an unconditional write into a 409 (at 8,
// a chaos run saw about a hundred such 409s in twenty rounds).
const maxPatchRetries = 1000

// servePatch answers PATCH with JSON patch, merge patch or strategic merge
// patch, re-applying the patch to the newest object when another writer
// got there first.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, q *request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	pt := types.PatchType(mediaType(r))
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return unsupportedMediaType(string(pt) + " (server-side apply is not supported; use client-side apply)")
	default:
		return unsupportedMediaType(string(pt))
	}
	for attempt := 0; ; attempt++ {
		old, err := s.getForWrite(r.Context(), q, q.name, 0)
		if err != nil {
			return err
		}
		patched, err := applyPatch(q.kind, pt, old.Raw, body)
		if err != nil {
			return err
		}
		obj, err := decodeObject(withJSON(r), q.kind, patched)
		if err != nil {
			return err
		}
		meta := objectMeta(obj)
		if meta.Name != q.name {
			return badRequest("metadata.name: Invalid value: %q: field is immutable", meta.Name)
		}
		precondition := old.ResourceVersion
		if meta.ResourceVersion != "" && meta.ResourceVersion != strconv.FormatUint(old.ResourceVersion, 10) {
			// The patch itself named a resourceVersion: honour it.
			n, err := strconv.ParseUint(meta.ResourceVersion, 10, 64)
			if err != nil {
				return badRequest("metadata.resourceVersion: Invalid value: %q", meta.ResourceVersion)
			}
			precondition = n
			attempt = maxPatchRetries
		}
		stored, err := s.update(r.Context(), r, q, obj, old, precondition)
		if apierrors.IsConflict(err) && attempt < maxPatchRetries {
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

// applyPatch applies patch of type pt to the JSON document doc.
func applyPatch(k *registry.Kind, pt types.PatchType, doc, patch []byte) ([]byte, error) {
	var out []byte
	var err error
	switch pt {
	case types.JSONPatchType:
		var p jsonpatch.Patch
		p, err = jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, badRequest("the request body is not a valid JSON patch: %v", err)
		}
		out, err = p.Apply(doc)
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, badRequest("the request body is not valid JSON")
		}
		out, err = jsonpatch.MergePatch(doc, patch)
	case types.StrategicMergePatchType:
		if !json.Valid(patch) {
			return nil, badRequest("the request body is not valid JSON")
		}
		out, err = strategicpatch.StrategicMergePatch(doc, patch, k.New())
	default:
		return nil, unsupportedMediaType(string(pt))
	}
	if err != nil {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", k.GroupResource(), "", fmt.Sprintf("the patch could not be applied: %v", err), 0, false)
	}
	return out, nil
}

// withJSON is r as seen by the decoder of a patched (JSON) document.
func withJSON(r *http.Request) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Header.Set("Content-Type", "application/json")
	return r2
}
