// Package openapicheck compares the OpenAPI documents a Kubernetes API
// serves: for every kind discovery lists, its model in /openapi/v2 and in
// /openapi/v3 must exist and say the same, as kube-apiserver's do (both are
// generated from one definition). The API's unit tests and the end-to-end
// tests share it.
//
// Usage:
//
//	v2, v3, err := openapicheck.Fetch(get)
//	for gvk := range kinds {
//		for _, d := range openapicheck.Compare(gvk, v2, v3) {
//			t.Error(d)
//		}
//	}
package openapicheck

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Models are the schemas of /openapi/v2 (definitions) or of every
// /openapi/v3 document (components.schemas), by name.
type Models map[string]map[string]any

// ForKind is the name of the model marked with gvk.
func (m Models) ForKind(gvk schema.GroupVersionKind) (string, bool) {
	for name, s := range m {
		list, _ := s["x-kubernetes-group-version-kind"].([]any)
		for _, g := range list {
			g, _ := g.(map[string]any)
			if g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind {
				return name, true
			}
		}
	}
	return "", false
}

// Fetch reads /openapi/v2 and every document the /openapi/v3 index names,
// through get (path, Accept) -> body.
func Fetch(get func(path, accept string) ([]byte, error)) (v2, v3 Models, err error) {
	b, err := get("/openapi/v2", "application/json")
	if err != nil {
		return nil, nil, fmt.Errorf("/openapi/v2: %w", err)
	}
	var doc2 struct {
		Swagger     string `json:"swagger"`
		Definitions Models `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc2); err != nil || doc2.Swagger != "2.0" {
		return nil, nil, fmt.Errorf("/openapi/v2 is not a Swagger 2.0 document: %v %q", err, doc2.Swagger)
	}
	b, err = get("/openapi/v3", "application/json")
	if err != nil {
		return nil, nil, fmt.Errorf("/openapi/v3: %w", err)
	}
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, nil, fmt.Errorf("/openapi/v3: %w", err)
	}
	v3 = Models{}
	for p, ref := range index.Paths {
		b, err := get(ref.ServerRelativeURL, "application/json")
		if err != nil {
			return nil, nil, fmt.Errorf("/openapi/v3 %s: %w", p, err)
		}
		var doc struct {
			Components struct {
				Schemas Models `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, nil, fmt.Errorf("/openapi/v3 %s: %w", p, err)
		}
		for name, s := range doc.Components.Schemas {
			v3[name] = s
		}
	}
	return doc2.Definitions, v3, nil
}

// Compare returns how the models of gvk differ between v2 and v3 (nothing
// when they agree), following every model it refers to.
func Compare(gvk schema.GroupVersionKind, v2, v3 Models) []string {
	n2, ok2 := v2.ForKind(gvk)
	n3, ok3 := v3.ForKind(gvk)
	if !ok2 || !ok3 || n2 != n3 {
		return []string{fmt.Sprintf("%s: model in /openapi/v2 %q (%v), in /openapi/v3 %q (%v)", gvk, n2, ok2, n3, ok3)}
	}
	var out []string
	compareModel(gvk.String(), n2, v2, v3, map[string]bool{}, &out)
	return out
}

// compareModel compares model name and everything it reaches. A v3 leaf
// spelled as oneOf (IntOrString, Quantity) matches the v2 type when that
// is one of the alternatives, with the same format.
func compareModel(kind, name string, v2, v3 Models, seen map[string]bool, out *[]string) {
	if seen[name] {
		return
	}
	seen[name] = true
	s2, ok2 := v2[name]
	s3, ok3 := v3[name]
	if !ok2 || !ok3 {
		*out = append(*out, fmt.Sprintf("%s: model %s in v2: %v, in v3: %v", kind, name, ok2, ok3))
		return
	}
	m2, m3 := Normalize(s2).(map[string]any), Normalize(s3).(map[string]any)
	if alts, ok := m3["oneOf"].([]any); ok {
		if !slices.ContainsFunc(alts, func(a any) bool { a2, _ := a.(map[string]any); return a2["type"] == m2["type"] }) {
			*out = append(*out, fmt.Sprintf("%s: leaf %s: v2 type %v is none of v3's %v", kind, name, m2["type"], alts))
		}
		delete(m3, "oneOf")
		m3["type"] = m2["type"]
	}
	if !reflect.DeepEqual(m2, m3) {
		a, _ := json.MarshalIndent(m2, "", " ")
		b, _ := json.MarshalIndent(m3, "", " ")
		*out = append(*out, fmt.Sprintf("%s: model %s differs between /openapi/v2 and /openapi/v3:\nv2: %s\nv3: %s", kind, name, a, b))
		return
	}
	refs := map[string]bool{}
	refsOf(m3, refs)
	for r := range refs {
		compareModel(kind, r, v2, v3, seen, out)
	}
}

// Normalize rewrites a schema into what OpenAPI v2 and v3 share: refs are
// bare model names, and a v3 allOf around a single $ref is the $ref with
// its siblings beside it, as v2 writes it.
func Normalize(s any) any {
	switch v := s.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = Normalize(x)
		}
		if all, ok := out["allOf"].([]any); ok && len(all) == 1 {
			if inner, ok := all[0].(map[string]any); ok {
				delete(out, "allOf")
				for k, x := range inner {
					out[k] = x
				}
			}
		}
		if r, ok := out["$ref"].(string); ok {
			out["$ref"] = r[strings.LastIndex(r, "/")+1:]
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = Normalize(x)
		}
		return out
	}
	return s
}

// refsOf collects the model names a normalized schema refers to.
func refsOf(s any, into map[string]bool) {
	switch v := s.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			into[r] = true
		}
		for _, x := range v {
			refsOf(x, into)
		}
	case []any:
		for _, x := range v {
			refsOf(x, into)
		}
	}
}
