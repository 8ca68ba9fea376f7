package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// objectDoc is an object's JSON split for the FSM: the top-level fields kept
// as raw JSON and the metadata decoded, so the FSM can stamp metadata without
// knowing the object's kind.
type objectDoc struct {
	top  map[string]json.RawMessage
	meta metav1.ObjectMeta
}

// decodeDoc splits raw into an objectDoc. A non-object or an undecodable
// metadata is ErrInvalid.
func decodeDoc(raw []byte) (*objectDoc, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: object is not a JSON object: %v", ErrInvalid, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: object is null", ErrInvalid)
	}
	d := &objectDoc{top: top}
	if m, ok := top["metadata"]; ok && !isJSONNull(m) {
		if err := json.Unmarshal(m, &d.meta); err != nil {
			return nil, fmt.Errorf("%w: metadata: %v", ErrInvalid, err)
		}
	}
	return d, nil
}

// object encodes d as the Object resource/namespace/name at index: it sets
// metadata.resourceVersion and re-encodes the JSON.
func (d *objectDoc) object(resource, namespace, name string, index uint64) (*Object, error) {
	d.meta.Name = name
	d.meta.Namespace = namespace
	d.meta.ResourceVersion = strconv.FormatUint(index, 10)
	mb, err := json.Marshal(&d.meta)
	if err != nil {
		return nil, fmt.Errorf("%w: encode metadata: %v", ErrInvalid, err)
	}
	d.top["metadata"] = mb
	raw, err := json.Marshal(d.top)
	if err != nil {
		return nil, fmt.Errorf("%w: encode object: %v", ErrInvalid, err)
	}
	return &Object{
		Resource:        resource,
		Namespace:       namespace,
		Name:            name,
		ResourceVersion: index,
		UID:             string(d.meta.UID),
		Labels:          d.meta.Labels,
		Raw:             raw,
	}, nil
}

// setField replaces (or, for a missing value, removes) a top-level field.
func (d *objectDoc) setField(field string, v json.RawMessage, ok bool) {
	if ok {
		d.top[field] = v
	} else {
		delete(d.top, field)
	}
}

// parseTime parses a Command.Time (RFC3339).
func parseTime(s string) (metav1.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return metav1.Time{}, fmt.Errorf("%w: time %q: %v", ErrInvalid, s, err)
	}
	return metav1.NewTime(t.UTC()), nil
}

// sameJSON reports whether two optional raw JSON values are equal after
// compacting (absent and present always differ).
func sameJSON(a json.RawMessage, aok bool, b json.RawMessage, bok bool) bool {
	if aok != bok {
		return false
	}
	if !aok {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func isJSONNull(m json.RawMessage) bool {
	return string(bytes.TrimSpace(m)) == "null"
}
