package consensus

import (
	"encoding/json"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Stamping in place: the FSM of a framed create (fsm_framed.go) decodes
// only the object's metadata, sets the fields the store owns, and splices
// the re-encoded metadata into the object's JSON, which it otherwise
// keeps byte for byte, in its own field order. objectDoc's way (decode
// every top-level field, re-encode them sorted) cost a third of the FSM's
// time on a create of 1 KiB, on every replica.
//
// The object's JSON is the API server's encoding (json.Marshal of a typed
// object): valid and compact, and encodeFramed refuses one that is not
// valid. The scan below checks the object's structure, not every literal
// in it (nor that brackets match); what it accepts is decided alike on
// every replica, which is what the FSM needs.

// metadataField locates the top-level "metadata" member of the JSON
// object raw: [start, end) is its value. Without one, found is false and
// start is where a first member would go (just after the opening brace),
// with empty telling whether the object has no members.
func metadataField(raw []byte) (start, end int, found, empty bool, err error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return 0, 0, false, false, fmt.Errorf("%w: object is not a JSON object", ErrInvalid)
	}
	i++
	open := i
	i = skipSpace(raw, i)
	if i < len(raw) && raw[i] == '}' {
		if skipSpace(raw, i+1) != len(raw) {
			return 0, 0, false, false, fmt.Errorf("%w: object: data after the closing brace", ErrInvalid)
		}
		return open, open, false, true, nil
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return 0, 0, false, false, fmt.Errorf("%w: object: expected a member name at offset %d", ErrInvalid, i)
		}
		keyEnd, err := skipString(raw, i)
		if err != nil {
			return 0, 0, false, false, err
		}
		isMeta, err := keyIs(raw[i:keyEnd], "metadata")
		if err != nil {
			return 0, 0, false, false, err
		}
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			return 0, 0, false, false, fmt.Errorf("%w: object: expected ':' at offset %d", ErrInvalid, i)
		}
		i = skipSpace(raw, i+1)
		vEnd, err := skipValue(raw, i)
		if err != nil {
			return 0, 0, false, false, err
		}
		if isMeta {
			if found {
				return 0, 0, false, false, fmt.Errorf("%w: object: metadata given twice", ErrInvalid)
			}
			start, end, found = i, vEnd, true
		}
		i = skipSpace(raw, vEnd)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		if i < len(raw) && raw[i] == '}' {
			if skipSpace(raw, i+1) != len(raw) {
				return 0, 0, false, false, fmt.Errorf("%w: object: data after the closing brace", ErrInvalid)
			}
			if !found {
				start, end = open, open
			}
			return start, end, found, false, nil
		}
		return 0, 0, false, false, fmt.Errorf("%w: object: expected ',' or '}' at offset %d", ErrInvalid, i)
	}
}

// keyIs reports whether the quoted JSON string q is name; only a key
// with escapes needs decoding.
func keyIs(q []byte, name string) (bool, error) {
	for _, c := range q {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(q, &s); err != nil {
				return false, fmt.Errorf("%w: object: member name %s: %v", ErrInvalid, q, err)
			}
			return s == name, nil
		}
	}
	return len(q) == len(name)+2 && string(q[1:len(q)-1]) == name, nil
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just past the string starting at raw[i]
// (a quote).
func skipString(raw []byte, i int) (int, error) {
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
		case c < 0x20:
			return 0, fmt.Errorf("%w: object: control character in a string at offset %d", ErrInvalid, j)
		}
	}
	return 0, fmt.Errorf("%w: object: unterminated string at offset %d", ErrInvalid, i)
}

// skipValue returns the offset just past the JSON value starting at
// raw[i].
func skipValue(raw []byte, i int) (int, error) {
	if i >= len(raw) {
		return 0, fmt.Errorf("%w: object: value expected at the end", ErrInvalid)
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, err := skipString(raw, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: object: unterminated value at offset %d", ErrInvalid, i)
	default:
		j := i
		for j < len(raw) {
			switch raw[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, fmt.Errorf("%w: object: value expected at offset %d", ErrInvalid, i)
				}
				return j, nil
			}
			j++
		}
		return j, nil
	}
}

// stampCreated builds the object a create stores: cmd.Object with its
// metadata stamped (uid, creationTimestamp, generation 1, no deletion,
// name, namespace and resourceVersion), spliced in place.
func stampCreated(cmd *Command, index uint64) (*Object, error) {
	raw := cmd.Object
	start, end, found, empty, err := metadataField(raw)
	if err != nil {
		return nil, err
	}
	var meta metav1.ObjectMeta
	if found && !isJSONNull(raw[start:end]) {
		if err := json.Unmarshal(raw[start:end], &meta); err != nil {
			return nil, fmt.Errorf("%w: metadata: %v", ErrInvalid, err)
		}
	}
	meta.UID = types.UID(cmd.UID)
	meta.CreationTimestamp = metav1.Time{}
	if cmd.Time != "" {
		if meta.CreationTimestamp, err = parseTime(cmd.Time); err != nil {
			return nil, err
		}
	}
	meta.Generation = 1
	meta.DeletionTimestamp = nil
	meta.DeletionGracePeriodSeconds = nil
	meta.Name = cmd.Name
	meta.Namespace = cmd.Namespace
	meta.ResourceVersion = strconv.FormatUint(index, 10)
	mb, err := json.Marshal(&meta)
	if err != nil {
		return nil, fmt.Errorf("%w: encode metadata: %v", ErrInvalid, err)
	}
	out := make([]byte, 0, len(raw)-(end-start)+len(mb)+len(`"metadata":,`))
	out = append(out, raw[:start]...)
	if !found {
		out = append(out, `"metadata":`...)
	}
	out = append(out, mb...)
	if !found && !empty {
		out = append(out, ',')
	}
	out = append(out, raw[end:]...)
	return &Object{
		Resource:        cmd.Resource,
		Namespace:       cmd.Namespace,
		Name:            cmd.Name,
		ResourceVersion: index,
		UID:             cmd.UID,
		Labels:          meta.Labels,
		Raw:             out,
	}, nil
}
