package apiserver

import (
	"bytes"
	"encoding/json"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// The rules an update follows, as kube-apiserver's generic registry
// applies them (rest.BeforeUpdate and the store's GuaranteedUpdate):
//
//   - A PUT without metadata.resourceVersion is unconditional: every kind
//     shoal serves allows it (AllowUnconditionalUpdate), so it applies to
//     the object as stored when the write lands. One with a resourceVersion
//     is refused with 409 Conflict unless that is still the stored one.
//   - The server-owned metadata comes from the stored object: uid when the
//     client sent none (a different one is refused as immutable),
//     creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds when
//     the client sent none, managedFields, and generation.
//   - generation moves only when spec changes (and, for Deployments, their
//     annotations): the FSM decides it for the stored object, and
//     storedGeneration says the same for a dry run.
//   - dryRun=All runs all of it and answers with the object as it would be
//     stored, at the current resourceVersion, so `kubectl diff` shows only
//     the user's change.

// beforeUpdate carries the server-owned metadata of the stored object old
// over to obj, the object a client sent (or a patch produced).
func beforeUpdate(obj, old *metav1.ObjectMeta) {
	obj.Generation = old.Generation
	if obj.UID == "" {
		obj.UID = old.UID
	}
	if !old.CreationTimestamp.IsZero() {
		obj.CreationTimestamp = old.CreationTimestamp
	}
	if old.DeletionTimestamp != nil {
		obj.DeletionTimestamp = old.DeletionTimestamp
	}
	if old.DeletionGracePeriodSeconds != nil && obj.DeletionGracePeriodSeconds == nil {
		obj.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds
	}
	obj.ManagedFields = old.ManagedFields
}

// dryRunResult is what the store would keep for an update of old (stored
// JSON) to next (the encoded new object), without writing it: the same
// fields the FSM takes from each (consensus.OpUpdate), and the generation
// it would give.
func dryRunResult(k *registry.Kind, subresource string, old *consensus.Object, next []byte) ([]byte, error) {
	var prev, doc map[string]json.RawMessage
	if err := json.Unmarshal(old.Raw, &prev); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(next, &doc); err != nil {
		return nil, err
	}
	var prevMeta, meta metav1.ObjectMeta
	if err := json.Unmarshal(prev["metadata"], &prevMeta); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc["metadata"], &meta); err != nil {
		return nil, err
	}
	if subresource == consensus.SubresourceStatus {
		// Only status is taken (and, for Deployments, the annotations).
		annotations := meta.Annotations
		doc, meta = prev, prevMeta
		setField(doc, "status", next)
		if k.StatusTakesAnnotations {
			meta.Annotations = annotations
		}
	} else {
		if k.HasStatus {
			doc["status"] = prev["status"]
			if prev["status"] == nil {
				delete(doc, "status")
			}
		}
		meta.Generation = storedGeneration(k, prev, doc, &prevMeta, &meta)
	}
	meta.ResourceVersion = prevMeta.ResourceVersion
	mb, err := json.Marshal(&meta)
	if err != nil {
		return nil, err
	}
	doc["metadata"] = mb
	return json.Marshal(doc)
}

// setField copies the top-level field name of the JSON object from into
// doc, or removes it from doc when from has none.
func setField(doc map[string]json.RawMessage, name string, from []byte) {
	var src map[string]json.RawMessage
	if json.Unmarshal(from, &src) != nil || src[name] == nil {
		delete(doc, name)
		return
	}
	doc[name] = src[name]
}

// storedGeneration is the generation the FSM gives a main-resource update:
// the stored one, plus one when spec changed (or, for kinds whose
// annotations bump it, the annotations).
func storedGeneration(k *registry.Kind, prev, next map[string]json.RawMessage, prevMeta, meta *metav1.ObjectMeta) int64 {
	if !sameJSON(prev["spec"], next["spec"]) ||
		(k.AnnotationsBumpGeneration && !maps.Equal(prevMeta.Annotations, meta.Annotations)) {
		return prevMeta.Generation + 1
	}
	return prevMeta.Generation
}

// sameJSON compares two JSON values ignoring insignificant white space; a
// missing value equals only another missing one.
func sameJSON(a, b json.RawMessage) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
