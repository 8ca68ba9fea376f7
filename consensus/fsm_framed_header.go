package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The header of a msgFramed entry: a Command without its Object, in
// binary. Decoding a JSON header took a tenth of the FSM's time on every
// replica (reflection over twenty fields for a hundred bytes).
//
//	op byte | fields
//
// Each field is a tag byte and a value; fields left at their zero value
// are not written. Strings are a uvarint length and the bytes; numbers
// uvarints (GracePeriodSeconds a zig-zag varint); flags have no value;
// lists a uvarint count of strings. A tag this binary does not know fails
// the decoding, as an unknown JSON field does for msgCommand: it may
// change what the command does.
const (
	tagResource byte = iota + 1
	tagNamespace
	tagName
	tagUID
	tagResourceVersion
	tagTime
	tagSubresource
	tagPreserveStatus
	tagAnnotationsWithStatus
	tagAnnotationsBumpGeneration
	tagGracePeriodSeconds
	tagGraceful
	tagClaims
	tagReleases
	tagSetClaims
)

// appendHeader appends cmd's header (everything but Object) to buf.
func appendHeader(buf []byte, cmd *Command) []byte {
	buf = append(buf, byte(cmd.Op))
	str := func(tag byte, s string) {
		if s != "" {
			buf = append(buf, tag)
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
	}
	flag := func(tag byte, on bool) {
		if on {
			buf = append(buf, tag)
		}
	}
	list := func(tag byte, ss []string) {
		if len(ss) > 0 {
			buf = append(buf, tag)
			buf = binary.AppendUvarint(buf, uint64(len(ss)))
			for _, s := range ss {
				buf = binary.AppendUvarint(buf, uint64(len(s)))
				buf = append(buf, s...)
			}
		}
	}
	str(tagResource, cmd.Resource)
	str(tagNamespace, cmd.Namespace)
	str(tagName, cmd.Name)
	str(tagUID, cmd.UID)
	if cmd.ResourceVersion != 0 {
		buf = append(buf, tagResourceVersion)
		buf = binary.AppendUvarint(buf, cmd.ResourceVersion)
	}
	str(tagTime, cmd.Time)
	str(tagSubresource, cmd.Subresource)
	flag(tagPreserveStatus, cmd.PreserveStatus)
	flag(tagAnnotationsWithStatus, cmd.AnnotationsWithStatus)
	flag(tagAnnotationsBumpGeneration, cmd.AnnotationsBumpGeneration)
	if cmd.GracePeriodSeconds != nil {
		buf = append(buf, tagGracePeriodSeconds)
		buf = binary.AppendVarint(buf, *cmd.GracePeriodSeconds)
	}
	flag(tagGraceful, cmd.Graceful)
	list(tagClaims, cmd.Claims)
	list(tagReleases, cmd.Releases)
	flag(tagSetClaims, cmd.SetClaims)
	return buf
}

var errShortHeader = errors.New("framed command header: cut short")

// headerReader reads a header's values.
type headerReader struct{ b []byte }

func (r *headerReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errShortHeader
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *headerReader) str() (string, error) {
	n, err := r.uvarint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.b)) {
		return "", errShortHeader
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s, nil
}

func (r *headerReader) list() ([]string, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)) { // each string takes a byte at least
		return nil, errShortHeader
	}
	out := make([]string, 0, n)
	for range n {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseHeader decodes a header written by appendHeader.
func parseHeader(b []byte) (*Command, error) {
	if len(b) == 0 {
		return nil, errShortHeader
	}
	cmd := &Command{Op: Op(b[0])}
	r := headerReader{b: b[1:]}
	for len(r.b) > 0 {
		tag := r.b[0]
		r.b = r.b[1:]
		var err error
		switch tag {
		case tagResource:
			cmd.Resource, err = r.str()
		case tagNamespace:
			cmd.Namespace, err = r.str()
		case tagName:
			cmd.Name, err = r.str()
		case tagUID:
			cmd.UID, err = r.str()
		case tagResourceVersion:
			cmd.ResourceVersion, err = r.uvarint()
		case tagTime:
			cmd.Time, err = r.str()
		case tagSubresource:
			cmd.Subresource, err = r.str()
		case tagPreserveStatus:
			cmd.PreserveStatus = true
		case tagAnnotationsWithStatus:
			cmd.AnnotationsWithStatus = true
		case tagAnnotationsBumpGeneration:
			cmd.AnnotationsBumpGeneration = true
		case tagGracePeriodSeconds:
			v, n := binary.Varint(r.b)
			if n <= 0 {
				return nil, errShortHeader
			}
			r.b = r.b[n:]
			cmd.GracePeriodSeconds = &v
		case tagGraceful:
			cmd.Graceful = true
		case tagClaims:
			cmd.Claims, err = r.list()
		case tagReleases:
			cmd.Releases, err = r.list()
		case tagSetClaims:
			cmd.SetClaims = true
		default:
			return nil, fmt.Errorf("framed command header: field %d unknown to this binary", tag)
		}
		if err != nil {
			return nil, err
		}
	}
	return cmd, nil
}
