package apiserver

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The OpenAPI v3 components.schemas of a group-version, built by reflection
// over the Go types shoal stores. kubectl reads them for `explain` and, once
// a PATCH operation declares strategic merge patch, for the patch metadata
// of client-side `apply`: the x-kubernetes-patch-* extensions come from the
// same struct tags strategicpatch reads from the Go types, so both agree.
// The shapes follow kube-apiserver's v3 documents: nested structs are
// {"allOf":[{"$ref":...}]} when a description or default is attached,
// leaf types (Quantity, IntOrString, Time) are components named as
// Kubernetes names them.
//
// The same builder writes the definitions of /openapi/v2 (newSchemaBuilderV2),
// so both documents come from one walk of the same types and differ only
// where the two formats do, as kube-openapi's do: v2 refers to
// #/definitions/, puts a description or default beside a $ref instead of
// inside allOf, and spells the leaf types with one type and a format
// (IntOrString: string/int-or-string) instead of oneOf.

const (
	schemaRefPrefix   = "#/components/schemas/"
	schemaRefPrefixV2 = "#/definitions/"
)

// openAPILeaf is implemented by the apimachinery types that serialize as a
// JSON scalar (Time, MicroTime, Duration, Quantity, IntOrString):
// kube-openapi's generator reads the same methods.
type openAPILeaf interface {
	OpenAPISchemaType() []string
	OpenAPISchemaFormat() string
}

type openAPIOneOf interface{ OpenAPIV3OneOfTypes() []string }

type modelNamer interface{ OpenAPIModelName() string }

type swaggerDoc interface{ SwaggerDoc() map[string]string }

// leafDescriptions are the descriptions kube-apiserver gives the leaf types,
// which have no SwaggerDoc method.
var leafDescriptions = map[string]string{
	"io.k8s.apimachinery.pkg.api.resource.Quantity":   "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n\t(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n<digit>           ::= 0 | 1 | ... | 9 <digits>          ::= <digit> | <digit><digits> <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits> <sign>            ::= \"+\" | \"-\" <signedNumber>    ::= <number> | <sign><number> <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t(International System of units; See: http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>       ::= m | \"\" | k | M | G | T | P | E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the capitalization.)\n\n<decimalExponent> ::= \"e\" <signedNumber> | \"E\" <signedNumber> ```\n\nNo matter which of the three exponent forms is used, no quantity may represent a number greater than 2^63-1 in magnitude, nor may it have more than 3 decimal places. Numbers larger or more precise will be capped or rounded up. (E.g.: 0.1m will rounded up to 1m.) This may be extended in the future if we require larger or smaller quantities.",
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are provided for many of the factory methods that the time package offers.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":  "MicroTime is version of Time with microsecond level precision.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Duration":   "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. In particular, it marshals into strings, which can be used as map keys in json.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1":   "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\nEach key is either a '.' representing the field itself, and will always map to an empty set, or a string representing a sub-field or item. The string will follow one of these four formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a map 'v:<value>', where <value> is the exact json formatted value of a list item 'i:<index>', where <index> is position of a item in a list 'k:<keys>', where <keys> is a map of  a list item's key fields to their unique values If a key maps to an empty Fields value, the field that key represents is part of the set.\n\nThe exact format is defined in sigs.k8s.io/structured-merge-diff",
	"io.k8s.apimachinery.pkg.runtime.RawExtension":    "RawExtension is used to hold extensions in external versions.",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Patch":      "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
}

// schemaBuilder collects the components of one document.
type schemaBuilder struct {
	schemas map[string]map[string]any
	// v2 writes OpenAPI v2 (Swagger 2.0) definitions instead of v3
	// components.
	v2 bool
}

func newSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{schemas: map[string]map[string]any{}}
}

func newSchemaBuilderV2() *schemaBuilder {
	return &schemaBuilder{schemas: map[string]map[string]any{}, v2: true}
}

// ref is a reference to the component name in this builder's format.
func (b *schemaBuilder) ref(name string) map[string]any {
	if b.v2 {
		return map[string]any{"$ref": schemaRefPrefixV2 + name}
	}
	return schemaRef(name)
}

// withSiblings attaches keys (description, default) to the reference s:
// beside it in v2, around it as allOf in v3.
func (b *schemaBuilder) withSiblings(s map[string]any) map[string]any {
	if b.v2 {
		return s
	}
	return map[string]any{"allOf": []any{s}}
}

// addKind adds obj's type (and everything it reaches) and marks its
// component with the group-version-kind, an array as Kubernetes writes it.
// It returns the component's name.
func (b *schemaBuilder) addKind(obj runtime.Object, gvk schema.GroupVersionKind) string {
	name := b.component(reflect.TypeOf(obj).Elem())
	b.schemas[name]["x-kubernetes-group-version-kind"] = []any{gvkExtension(gvk)}
	return name
}

// gvkExtension is one group-version-kind as the OpenAPI extensions spell it.
func gvkExtension(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// schemaRef is a reference to the component name.
func schemaRef(name string) map[string]any {
	return map[string]any{"$ref": schemaRefPrefix + name}
}

// component makes sure t (a named struct or leaf type) has a component and
// returns its name. The component is registered before its fields are
// walked, so recursive types end.
func (b *schemaBuilder) component(t reflect.Type) string {
	name := modelName(t)
	if _, ok := b.schemas[name]; ok {
		return name
	}
	s := map[string]any{}
	b.schemas[name] = s
	zero := reflect.New(t).Interface()
	if leaf, ok := zero.(openAPILeaf); ok {
		if oneOf, ok := zero.(openAPIOneOf); ok && !b.v2 {
			var alts []any
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				alts = append(alts, map[string]any{"type": typ})
			}
			s["oneOf"] = alts
		} else if types := leaf.OpenAPISchemaType(); len(types) > 0 {
			s["type"] = types[0]
		}
		if f := leaf.OpenAPISchemaFormat(); f != "" {
			s["format"] = f
		}
	} else {
		s["type"] = "object"
		props := map[string]any{}
		b.addFields(props, t)
		if len(props) > 0 {
			s["properties"] = props
		}
	}
	if d := typeDoc(t)[""]; d != "" {
		s["description"] = d
	} else if d := leafDescriptions[name]; d != "" {
		s["description"] = d
	}
	return name
}

// addFields adds the JSON fields of struct t to props, walking embedded
// structs that encoding/json inlines (TypeMeta, VolumeSource, ProbeHandler).
// A field of t wins over an inlined field of the same name, as in
// encoding/json.
func (b *schemaBuilder) addFields(props map[string]any, t reflect.Type) {
	docs := typeDoc(t)
	var inlined []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				inlined = append(inlined, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = b.fieldSchema(f, docs[name])
	}
	for _, it := range inlined {
		sub := map[string]any{}
		b.addFields(sub, it)
		for k, v := range sub {
			if _, ok := props[k]; !ok {
				props[k] = v
			}
		}
	}
}

// fieldSchema is the property schema of struct field f: its type, the
// description, a default of {} for a struct held by value (as Kubernetes
// writes it), and the patch extensions from the struct tags.
func (b *schemaBuilder) fieldSchema(f reflect.StructField, desc string) map[string]any {
	s := b.typeSchema(f.Type)
	_, isRef := s["$ref"]
	byValueStruct := isRef && f.Type.Kind() == reflect.Struct && !isLeaf(f.Type)
	if isRef && (desc != "" || byValueStruct) {
		s = b.withSiblings(s)
	}
	if desc != "" {
		s["description"] = desc
	}
	if byValueStruct {
		s["default"] = map[string]any{}
	}
	if ps := f.Tag.Get("patchStrategy"); ps != "" {
		s["x-kubernetes-patch-strategy"] = ps
	}
	if mk := f.Tag.Get("patchMergeKey"); mk != "" {
		s["x-kubernetes-patch-merge-key"] = mk
	}
	return s
}

// elemSchema is the schema of a slice item or map value: a struct held by
// value gets the default {} Kubernetes writes.
func (b *schemaBuilder) elemSchema(t reflect.Type) map[string]any {
	s := b.typeSchema(t)
	if _, isRef := s["$ref"]; isRef && t.Kind() == reflect.Struct && !isLeaf(t) {
		s = b.withSiblings(s)
		s["default"] = map[string]any{}
	}
	return s
}

// typeSchema is the schema of a value of type t, a $ref for named structs.
func (b *schemaBuilder) typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isLeaf(t) || (t.Kind() == reflect.Struct && t.Name() != "") {
		return b.ref(b.component(t))
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32:
		return map[string]any{"type": "number", "format": "float"}
	case reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": b.elemSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": b.elemSchema(t.Elem())}
	case reflect.Struct: // anonymous struct: its fields in place
		props := map[string]any{}
		b.addFields(props, t)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{"type": "object"}
}

func isLeaf(t reflect.Type) bool {
	_, ok := reflect.New(t).Interface().(openAPILeaf)
	return ok
}

// typeDoc is t's SwaggerDoc: "" describes the type, the other keys are the
// JSON names of its fields.
func typeDoc(t reflect.Type) map[string]string {
	if d, ok := reflect.New(t).Interface().(swaggerDoc); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// modelName is the component name Kubernetes gives t: its OpenAPIModelName
// when the type has one, else derived from the Go package path
// (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod).
func modelName(t reflect.Type) string {
	if n, ok := reflect.New(t).Interface().(modelNamer); ok {
		return n.OpenAPIModelName()
	}
	return derivedModelName(t)
}

func derivedModelName(t reflect.Type) string {
	host, rest, _ := strings.Cut(t.PkgPath(), "/")
	labels := strings.Split(host, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	parts := append(labels, strings.Split(rest, "/")...)
	parts = append(parts, t.Name())
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}
