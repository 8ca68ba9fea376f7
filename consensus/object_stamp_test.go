package consensus

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"testing"
)

// stampCases are objects a create may carry; stampCreated must store
// each as createdDoc does, keeping the fields other than metadata as
// they are.
var stampCases = []struct{ name, obj string }{
	{"configmap", `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm","namespace":"ns","labels":{"app":"web"}},"data":{"b":"2","a":"1"}}`},
	{"pod", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","labels":{"app":"web","tier":"fe"},` +
		`"annotations":{"note":"x"},"finalizers":["example.com/keep"]},` +
		`"spec":{"nodeName":"n1","containers":[{"name":"c","image":"i:1"}]},"status":{"phase":"Pending"}}`},
	{"no metadata", `{"kind":"Thing","data":{"a":1}}`},
	{"empty", `{}`},
	{"empty with spaces", `{ }`},
	{"spaces around", " \n{ \"kind\" : \"Thing\" ,\t\"metadata\" : { \"labels\" : { \"a\" : \"b\" } } }\r\n"},
	{"indented", "{\n  \"kind\": \"Thing\",\n  \"metadata\": {\n    \"name\": \"x\"\n  },\n  \"spec\": {}\n}"},
	{"metadata null", `{"kind":"Thing","metadata":null,"spec":{"a":1}}`},
	{"metadata null spaced", `{"metadata" : null , "spec":{}}`},
	{"metadata empty", `{"metadata":{}}`},
	{"metadata last", `{"kind":"Thing","spec":{"x":[1,2]},"metadata":{"labels":{"a":"b"}}}`},
	{"server fields overwritten", `{"metadata":{"uid":"forged","resourceVersion":"99","generation":7,` +
		`"creationTimestamp":"2001-01-01T00:00:00Z","deletionTimestamp":"2001-01-02T00:00:00Z",` +
		`"deletionGracePeriodSeconds":30,"name":"other","namespace":"other","labels":{"a":"b"}},"spec":{}}`},
	{"escaped key", `{"kind":"Thing","metad\u0061ta":{"labels":{"a":"b"}},"spec":{}}`},
	{"fully escaped key", `{"\u006d\u0065\u0074\u0061\u0064\u0061\u0074\u0061":{"labels":{"a":"b"}}}`},
	{"other case is another key", `{"Metadata":{"uid":"kept"},"kind":"Thing"}`},
	{"metadata nested only", `{"spec":{"metadata":{"uid":"kept"},"template":{"metadata":null}}}`},
	{"tricky strings", `{"a":"}{][\"\\","b":"\\","c":"\"","metadata":{"labels":{"x":"{\"]\\","y":"\\\\"}},` +
		`"z":"\\\"}","w":["]","}",{"q":"{"}],"v":"\\"}`},
	{"tricky strings no metadata", `{"a":"\"metadata\":{}","b":"\\\"","c":["{","["]}`},
	{"every kind of value", `{"n":-1.5e+10,"t":true,"f":false,"z":null,"s":"","a":[1,[2,{"a":"]"}],[]],"o":{},` +
		`"metadata":{"annotations":{"k":"v"}},"i":0}`},
	{"unicode and html", `{"u":"ü\u2028","h":"<a&b>","metadata":{"labels":{"a":"<b>"}},"e":"\u00e9\ud83d\ude00"}`},
	{"duplicate other keys", `{"a":1,"metadata":{},"a":2,"\u0061":3}`},
}

// stampInvalid are objects stampCreated must refuse, with ErrInvalid.
var stampInvalid = []struct{ name, obj string }{
	{"nothing", ``},
	{"spaces only", `  `},
	{"array", `[]`},
	{"string", `"x"`},
	{"null", `null`},
	{"number", `1`},
	{"only an opening brace", `{`},
	{"unterminated string", `{"a":"x`},
	{"unterminated key", `{"a`},
	{"unterminated object", `{"a":1`},
	{"unterminated nested object", `{"a":{"b":1}`},
	{"unterminated value", `{"a":{"b":[1,2`},
	{"metadata twice", `{"metadata":{},"metadata":{}}`},
	{"metadata twice, once escaped", `{"metadata":{},"a":1,"metad\u0061ta":null}`},
	{"data after the closing brace", `{"a":1}x`},
	{"data after an empty object", `{} x`},
	{"two objects", `{"a":1} {"b":2}`},
	{"missing colon", `{"a" 1}`},
	{"missing comma", `{"a":1 "b":2}`},
	{"missing value", `{"a":}`},
	{"trailing comma", `{"a":1,}`},
	{"key not a string", `{a:1}`},
	{"control character in a string", "{\"a\":\"x\ty\"}"},
	{"control character in a key", "{\"a\x01\":1}"},
	{"newline in metadata", "{\"metadata\":{\"name\":\"a\nb\"}}"},
	{"bad escape in a key", `{"\x":1}`},
	{"metadata a string", `{"metadata":"x"}`},
	{"metadata an array", `{"metadata":[]}`},
	{"metadata a bad time", `{"metadata":{"creationTimestamp":"yesterday"}}`},
	{"metadata a bad label", `{"metadata":{"labels":{"a":1}}}`},
}

func stampCmd(obj []byte) *Command {
	return &Command{Op: OpCreate, Resource: "pods", Namespace: "ns", Name: "p", Object: obj, UID: "uid-p", Time: testTime}
}

// decodeAny decodes a JSON value for comparison; numbers stay as written.
func decodeAny(t testing.TB, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("decode %s: data after the value (%v)", raw, err)
	}
	return v
}

// member is a top-level member of a JSON object: its decoded name and
// its value's bytes as written.
type member struct {
	name  string
	value string
}

// members lists raw's top-level members in order (json.Decoder keeps a
// value's bytes as they are in the input).
func members(t testing.TB, raw []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("members of %s: starts with %v, %v", raw, tok, err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("members of %s: %v", raw, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("members of %s: %v", raw, err)
		}
		out = append(out, member{tok.(string), string(v)})
	}
	return out
}

// withoutMetadata returns ms without the member named metadata, and
// where it was (-1 when absent).
func withoutMetadata(ms []member) (rest []member, at int) {
	for i, m := range ms {
		if m.name == "metadata" {
			return append(append([]member(nil), ms[:i]...), ms[i+1:]...), i
		}
	}
	return ms, -1
}

// stampedMeta decodes raw's member named metadata exactly (a typed
// decode of the whole object would also take "Metadata").
func stampedMeta(t testing.TB, raw []byte) metaView {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var v metaView
	if err := json.Unmarshal(top["metadata"], &v.Metadata); err != nil {
		t.Fatalf("decode the metadata of %s: %v", raw, err)
	}
	return v
}

func TestStampCreated(t *testing.T) {
	const index = 7
	for _, tc := range stampCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.obj)
			got, err := stampCreated(stampCmd(in), index)
			if err != nil {
				t.Fatalf("stampCreated(%s) = %v", in, err)
			}
			if string(in) != tc.obj {
				t.Fatalf("stampCreated changed its input to %s", in)
			}
			want, err := createdDoc(stampCmd([]byte(tc.obj)), index)
			if err != nil {
				t.Fatalf("createdDoc(%s) = %v", tc.obj, err)
			}
			if !json.Valid(got.Raw) {
				t.Fatalf("stampCreated(%s) stored invalid JSON %s", tc.obj, got.Raw)
			}
			if g, w := decodeAny(t, got.Raw), decodeAny(t, want.Raw); !reflect.DeepEqual(g, w) {
				t.Fatalf("stampCreated(%s)\n stored %s\n createdDoc %s", tc.obj, got.Raw, want.Raw)
			}
			if got.Resource != "pods" || got.Namespace != "ns" || got.Name != "p" ||
				got.UID != want.UID || got.ResourceVersion != want.ResourceVersion || !maps.Equal(got.Labels, want.Labels) {
				t.Fatalf("object %s/%s/%s uid %q rv %d labels %v, want %s/%s/%s uid %q rv %d labels %v",
					got.Resource, got.Namespace, got.Name, got.UID, got.ResourceVersion, got.Labels,
					want.Resource, want.Namespace, want.Name, want.UID, want.ResourceVersion, want.Labels)
			}
			m := stampedMeta(t, got.Raw).Metadata
			if m.UID != "uid-p" || m.ResourceVersion != "7" || m.Generation != 1 || m.Name != "p" || m.Namespace != "ns" ||
				m.CreationTimestamp == nil || *m.CreationTimestamp != testTime ||
				m.DeletionTimestamp != nil || m.DeletionGracePeriodSeconds != nil {
				t.Fatalf("stamped metadata %+v, want uid uid-p, resourceVersion 7, generation 1, name p, namespace ns, "+
					"created %s, no deletion", m, testTime)
			}

			// The other members keep their place and their bytes.
			inRest, inAt := withoutMetadata(members(t, in))
			outRest, outAt := withoutMetadata(members(t, got.Raw))
			if !reflect.DeepEqual(inRest, outRest) {
				t.Fatalf("members other than metadata\n stored %q\n given  %q", outRest, inRest)
			}
			if inAt >= 0 && inAt != outAt {
				t.Fatalf("metadata stored as member %d, given as member %d", outAt, inAt)
			}
		})
	}
}

func TestStampCreatedInvalid(t *testing.T) {
	for _, tc := range stampInvalid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stampCreated(stampCmd([]byte(tc.obj)), 7)
			switch {
			case err == nil:
				t.Fatalf("stampCreated(%q) stored %s, want an error wrapping ErrInvalid", tc.obj, got.Raw)
			case !errors.Is(err, ErrInvalid):
				t.Fatalf("stampCreated(%q) = %v, want an error wrapping ErrInvalid", tc.obj, err)
			}
		})
	}
	t.Run("bad time", func(t *testing.T) {
		cmd := stampCmd([]byte(`{}`))
		cmd.Time = "yesterday"
		if _, err := stampCreated(cmd, 7); !errors.Is(err, ErrInvalid) {
			t.Fatalf("stampCreated with time %q = %v, want an error wrapping ErrInvalid", cmd.Time, err)
		}
	})
}

// Whatever valid JSON stampCreated accepts, it stores as createdDoc
// does.
func FuzzStampCreated(f *testing.F) {
	for _, tc := range stampCases {
		f.Add([]byte(tc.obj))
	}
	for _, tc := range stampInvalid {
		f.Add([]byte(tc.obj))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		in := bytes.Clone(obj)
		got, err := stampCreated(stampCmd(obj), 7)
		if !bytes.Equal(obj, in) {
			t.Fatalf("stampCreated changed its input %q to %q", in, obj)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("stampCreated(%q) = %v, want an error wrapping ErrInvalid", obj, err)
			}
			return
		}
		if !json.Valid(obj) {
			return
		}
		if !json.Valid(got.Raw) {
			t.Fatalf("stampCreated(%q) stored invalid JSON %q", obj, got.Raw)
		}
		want, err := createdDoc(stampCmd(obj), 7)
		if err != nil {
			t.Fatalf("stampCreated(%q) stored %q where createdDoc fails: %v", obj, got.Raw, err)
		}
		if g, w := decodeAny(t, got.Raw), decodeAny(t, want.Raw); !reflect.DeepEqual(g, w) {
			t.Fatalf("stampCreated(%q)\n stored %q\n createdDoc %q", obj, got.Raw, want.Raw)
		}
		if got.UID != want.UID || got.ResourceVersion != want.ResourceVersion || !maps.Equal(got.Labels, want.Labels) {
			t.Fatalf("stampCreated(%q): uid %q rv %d labels %v, createdDoc uid %q rv %d labels %v",
				obj, got.UID, got.ResourceVersion, got.Labels, want.UID, want.ResourceVersion, want.Labels)
		}
	})
}
