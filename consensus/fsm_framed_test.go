package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// framedBody builds a msgFramed body (after the type byte) from a header
// and an object as given.
func framedBody(header []byte, object string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(header)))
	return append(append(b, header...), object...)
}

// header is cmd's binary header followed by extra bytes as given.
func header(cmd *Command, extra ...byte) []byte {
	return append(appendHeader(nil, cmd), extra...)
}

// unknownTag is a header field no binary knows yet.
const unknownTag = 0x7f

var (
	cmA    = &Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: "a"}
	cmAOp4 = &Command{Op: 4, Resource: "configmaps", Namespace: "ns", Name: "a"}
)

// fullCmd sets every field of Command.
func fullCmd() *Command {
	grace := int64(30)
	return &Command{
		Op: OpUpdate, Resource: "deployments", Namespace: "ns", Name: "d",
		Object: []byte(`{ "kind" : "Deployment",  "spec":{"replicas":3} }`),
		UID:    "uid-d", ResourceVersion: 12, Time: testTime, Subresource: SubresourceStatus,
		PreserveStatus: true, AnnotationsWithStatus: true, AnnotationsBumpGeneration: true,
		GracePeriodSeconds: &grace, Graceful: true,
		Claims: []string{"service-ip/10.43.0.1"}, Releases: []string{"nodeport/30080"}, SetClaims: true,
		stampInPlace: true,
	}
}

func TestFramedRoundTrip(t *testing.T) {
	// fullCmd must set every field, or a field lost on the way would go
	// unnoticed.
	full := reflect.ValueOf(fullCmd()).Elem()
	for i := range full.NumField() {
		if full.Field(i).IsZero() {
			t.Fatalf("fullCmd leaves Command.%s unset", full.Type().Field(i).Name)
		}
	}
	tests := []struct {
		name string
		cmd  *Command
	}{
		{"every field", fullCmd()},
		{"create", createCmd("ns", "a", map[string]string{"app": "web"})},
		{"delete without an object", &Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", UID: "u", Time: testTime}},
		{"object with spaces and escapes", &Command{Op: OpCreate, Resource: "configmaps", Name: "c",
			Object: []byte("\n{\"a\" : \"\\u003c\\\"}\",\n\"b\":[ 1.50, -0 ]}\t")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entry, err := encodeFramed(tc.cmd)
			if err != nil {
				t.Fatalf("encodeFramed = %v", err)
			}
			if msgType(entry[0]) != msgFramed {
				t.Fatalf("entry type %d, want msgFramed (%d)", entry[0], msgFramed)
			}
			if !bytes.HasSuffix(entry, tc.cmd.Object) {
				t.Fatalf("entry %q does not end with the object's bytes %q", entry, tc.cmd.Object)
			}
			got, err := decodeFramed(entry[1:])
			if err != nil {
				t.Fatalf("decodeFramed(%q) = %v", entry, err)
			}
			if !got.stampInPlace {
				t.Fatal("decodeFramed did not set stampInPlace")
			}
			if !bytes.Equal(got.Object, tc.cmd.Object) {
				t.Fatalf("object after the round trip %q, want the same bytes %q", got.Object, tc.cmd.Object)
			}
			want := *tc.cmd
			want.stampInPlace = true
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("round trip gave\n %+v\nwant\n %+v", *got, want)
			}
		})
	}
}

// encodeFramed refuses what encodeCommand refuses: neither puts in the
// log a command a replica would take for a newer binary's, nor an object
// that is not JSON.
func TestEncodeFramedRejects(t *testing.T) {
	create := func(obj string) *Command {
		return &Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: "a", Object: []byte(obj), Time: testTime}
	}
	for name, cmd := range map[string]*Command{
		"op":                   {Op: 9, Resource: "pods", Name: "x"},
		"subresource":          {Op: OpUpdate, Resource: "deployments", Namespace: "ns", Name: "d", Object: []byte(`{}`), Subresource: "scale"},
		"bad literal":          create(`{"a":tru}`),
		"brackets mismatched":  create(`{"a":[}}`),
		"member without value": create(`{"a":{"b"}}`),
		"unterminated":         create(`{"a":1`),
		"bad update":           {Op: OpUpdate, Resource: "configmaps", Namespace: "ns", Name: "a", Object: []byte(`{"a":1.2.3}`)},
	} {
		for _, enc := range []struct {
			name   string
			encode func(*Command) ([]byte, error)
		}{{"encodeCommand", encodeCommand}, {"encodeFramed", encodeFramed}} {
			if entry, err := enc.encode(cmd); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %s = %q, %v; want an error wrapping ErrInvalid", name, enc.name, entry, err)
			}
		}
	}
}

func TestDecodeFramedRejects(t *testing.T) {
	const obj = `{"kind":"ConfigMap"}`
	tests := []struct {
		name string
		body []byte
		want string // in the error
	}{
		{"unknown field", framedBody(header(cmA, unknownTag), obj), "field 127 unknown"},
		{"unknown op", framedBody(header(cmAOp4), obj), "op 4"},
		{"unknown subresource", framedBody(header(&Command{Op: OpUpdate, Resource: "deployments", Name: "a", Subresource: "scale"}), obj), "scale"},
		{"string past the header", framedBody(header(cmA, tagUID, 50, 'u'), obj), "cut short"},
		{"list past the header", framedBody(header(cmA, tagClaims, 3, 1, 'x'), obj), "cut short"},
		{"grace period cut", framedBody(header(cmA, tagGracePeriodSeconds, 0x80), obj), "cut short"},
		{"empty header", framedBody(nil, obj), "cut short"},
		{"empty", nil, "bad header length"},
		{"length past the end", append(binary.AppendUvarint(nil, 1000), `{"op":1}`...), "bad header length"},
		{"length unterminated", []byte{0x80, 0x80}, "bad header length"},
		{"length overflows", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "bad header length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := decodeFramed(tc.body)
			switch {
			case err == nil:
				t.Fatalf("decodeFramed(%q) = %s %s/%s/%s, want an error with %q", tc.body, opName(cmd.Op), cmd.Resource, cmd.Namespace, cmd.Name, tc.want)
			case !strings.Contains(err.Error(), tc.want):
				t.Fatalf("decodeFramed(%q) = %v, want an error with %q", tc.body, err, tc.want)
			}
		})
	}
}

// An entry this binary cannot read stops the replica, naming the entry.
func TestFSMFramedEntryPanics(t *testing.T) {
	f := &fsm{store: NewStore(), logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name string
		body []byte
	}{
		{"unknown field", framedBody(header(cmA, unknownTag), `{}`)},
		{"unknown op", framedBody(header(cmAOp4), `{}`)},
		{"bad length", []byte{0x80}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res any
			msg, _ := panicOf(func() {
				res = f.Apply(&raft.Log{Index: 42, Data: append([]byte{byte(msgFramed)}, tc.body...)})
			}).(string)
			if want := "raft entry at index 42 "; !strings.Contains(msg, want) {
				t.Fatalf("Apply = %+v, panic %q; want a panic naming the entry (%q)", res, msg, want)
			}
		})
	}
	if _, err := f.store.Get("configmaps", "ns", "a"); err == nil || f.store.Index() != 0 {
		t.Fatalf("an entry that panicked was applied: store at %d, Get error %v", f.store.Index(), err)
	}
}

// panicOf calls fn and returns what it panicked with.
func panicOf(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

// A sequence of commands applied as msgCommand entries to one FSM and as
// msgFramed entries to another: each step gives the same object (as
// decoded JSON) and the same error.
func TestFSMFramedMatchesCommand(t *testing.T) {
	jsonFSM := &fsm{store: NewStore(), logger: slog.New(slog.DiscardHandler)}
	framedFSM := &fsm{store: NewStore(), logger: slog.New(slog.DiscardHandler)}
	pod := `{"kind":"Pod","apiVersion":"v1","metadata":{"labels":{"app":"web"},"finalizers":["example.com/keep"],` +
		`"uid":"forged","resourceVersion":"99"},"spec":{"nodeName":"n1"},"status":{"phase":"Pending"}}`
	podV2 := `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web","v":"2"},"finalizers":["example.com/keep"]},` +
		`"spec":{"nodeName":"n2"},"status":{"phase":"Running"}}`
	podNoFinalizer := `{"kind":"Pod","metadata":{"labels":{"app":"web"}},"spec":{"nodeName":"n2"}}`
	podCmd := func(op Op, obj string) *Command {
		return &Command{Op: op, Resource: "pods", Namespace: "ns", Name: "p", Object: []byte(obj), Time: testTime}
	}
	steps := []struct {
		name string
		cmd  *Command
		want error // nil, or the sentinel both errors wrap
	}{
		{"create configmap", createCmd("ns", "cm", map[string]string{"a": "b"}), nil},
		{"create pod", &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "p", Object: []byte(pod),
			UID: "uid-p", Time: testTime, Claims: []string{"pod-ip/10.0.0.1"}}, nil},
		{"create again", createCmd("ns", "cm", nil), ErrAlreadyExists},
		{"create not an object", &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "x", Object: []byte(`[]`)}, ErrInvalid},
		{"create bad metadata", &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "x", Object: []byte(`{"metadata":{"labels":1}}`)}, ErrInvalid},
		{"create claimed", &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "q", Object: []byte(`{}`),
			Claims: []string{"pod-ip/10.0.0.1"}}, ErrClaimed},
		{"update", podCmd(OpUpdate, podV2), nil},
		{"update conflict", &Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: []byte(podV2), ResourceVersion: 2}, ErrConflict},
		{"update uid conflict", &Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: []byte(podV2), UID: "other"}, ErrConflict},
		{"update status", &Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "p", Object: []byte(pod), Subresource: SubresourceStatus}, nil},
		{"update missing", &Command{Op: OpUpdate, Resource: "pods", Namespace: "ns", Name: "zz", Object: []byte(pod)}, ErrNotFound},
		{"delete conflict", &Command{Op: OpDelete, Resource: "pods", Namespace: "ns", Name: "p", ResourceVersion: 1, Time: testTime}, ErrConflict},
		{"delete marks", podCmd(OpDelete, ""), nil},
		{"delete again", podCmd(OpDelete, ""), nil},
		{"finalizer released", podCmd(OpUpdate, podNoFinalizer), nil},
		{"delete gone", podCmd(OpDelete, ""), ErrNotFound},
		{"delete configmap", &Command{Op: OpDelete, Resource: "configmaps", Namespace: "ns", Name: "cm", UID: "uid-cm"}, nil},
	}
	for i, st := range steps {
		index := uint64(10 + i)
		jsonEntry, err := encodeCommand(st.cmd)
		if err != nil {
			t.Fatalf("%s: encodeCommand = %v", st.name, err)
		}
		framedEntry, err := encodeFramed(st.cmd)
		if err != nil {
			t.Fatalf("%s: encodeFramed = %v", st.name, err)
		}
		want := jsonFSM.Apply(&raft.Log{Index: index, Data: jsonEntry}).(ApplyResult)
		got := framedFSM.Apply(&raft.Log{Index: index, Data: framedEntry}).(ApplyResult)
		if !sameErr(got.Err, st.want) || !sameErr(want.Err, st.want) {
			t.Fatalf("%s: framed entry gave error %v, JSON entry %v; want %v", st.name, got.Err, want.Err, st.want)
		}
		// Only a create reads the object differently.
		if st.cmd.Op != OpCreate && fmt.Sprint(got.Err) != fmt.Sprint(want.Err) {
			t.Fatalf("%s: framed entry gave error %q, JSON entry %q", st.name, got.Err, want.Err)
		}
		if (got.Object == nil) != (want.Object == nil) {
			t.Fatalf("%s: framed entry gave object %v, JSON entry %v", st.name, got.Object, want.Object)
		}
		if want.Object != nil {
			sameObject(t, st.name, got.Object, want.Object)
		}
		if framedFSM.store.Index() != index || jsonFSM.store.Index() != index {
			t.Fatalf("%s: stores at %d (framed) and %d (JSON), want %d", st.name, framedFSM.store.Index(), jsonFSM.store.Index(), index)
		}
	}
	for _, res := range []string{"pods", "configmaps"} {
		g, _, _ := framedFSM.store.List(res, "", "", 0)
		w, _, _ := jsonFSM.store.List(res, "", "", 0)
		if len(g) != len(w) {
			t.Fatalf("%s: %d stored from framed entries, %d from JSON ones", res, len(g), len(w))
		}
		for i := range g {
			sameObject(t, res, g[i], w[i])
		}
	}
}

// sameErr reports whether err is nil when want is, or wraps want.
func sameErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// sameObject fails unless got and want are the same object: the same
// key, version, uid and labels, and JSON that decodes alike.
func sameObject(t *testing.T, what string, got, want *Object) {
	t.Helper()
	if got.Key() != want.Key() || got.ResourceVersion != want.ResourceVersion || got.UID != want.UID || !maps.Equal(got.Labels, want.Labels) {
		t.Fatalf("%s: framed %s rv %d uid %q labels %v, JSON %s rv %d uid %q labels %v", what,
			got.Key(), got.ResourceVersion, got.UID, got.Labels, want.Key(), want.ResourceVersion, want.UID, want.Labels)
	}
	if g, w := decodeAny(t, got.Raw), decodeAny(t, want.Raw); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: framed entry stored\n %s\nJSON entry\n %s", what, got.Raw, want.Raw)
	}
}

// BenchmarkFSMApplyCreate is a replica's cost of a create of 1 KiB, from
// encoding the entry to the stored object, JSON and framed.
func BenchmarkFSMApplyCreate(b *testing.B) {
	cm := fmt.Appendf(nil, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"labels":{"app":"web"}},"data":{"k":%q}}`,
		strings.Repeat("0123456789abcdef", 64))
	for _, enc := range []struct {
		name   string
		encode func(*Command) ([]byte, error)
	}{
		{"json", encodeCommand},
		{"framed", encodeFramed},
	} {
		b.Run(enc.name, func(b *testing.B) {
			f := &fsm{store: NewStore(), logger: slog.New(slog.DiscardHandler)}
			b.ReportAllocs()
			b.SetBytes(int64(len(cm)))
			var index uint64
			for b.Loop() {
				index++
				name := "cm-" + strconv.FormatUint(index, 10)
				entry, err := enc.encode(&Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: name,
					Object: cm, UID: "uid-" + name, Time: testTime})
				if err != nil {
					b.Fatal(err)
				}
				if res := f.Apply(&raft.Log{Index: index, Data: entry}).(ApplyResult); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}
