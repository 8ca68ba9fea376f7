package registry

import (
	"bytes"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

func TestAllKindsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range All() {
		gr := k.GroupResource().String()
		if seen[gr] {
			t.Errorf("duplicate %s", gr)
		}
		seen[gr] = true
		if k.New == nil || k.NewList == nil || k.Default == nil || k.Validate == nil || k.Row == nil || k.Fields == nil || len(k.Columns) == 0 || len(k.Verbs) == 0 {
			t.Errorf("%s: missing function or data", gr)
			continue
		}
		gvks, _, err := Scheme().ObjectKinds(k.New())
		if err != nil || len(gvks) == 0 || gvks[0] != k.GVK() {
			t.Errorf("%s: scheme kinds %v, %v; want %v", gr, gvks, err, k.GVK())
		}
		if _, _, err := Scheme().ObjectKinds(k.NewList()); err != nil {
			t.Errorf("%s: list not in scheme: %v", gr, err)
		}
		obj := k.New()
		k.Default(obj)
		if got := len(k.Row(obj, time.Now())); got != len(k.Columns) {
			t.Errorf("%s: row has %d cells, %d columns", gr, got, len(k.Columns))
		}
		if _, ok := k.Fields(obj)["metadata.name"]; !ok {
			t.Errorf("%s: no metadata.name field", gr)
		}
		if got, ok := Lookup(k.Group, k.Version, k.Resource); !ok || got != k {
			t.Errorf("Lookup(%s) failed", gr)
		}
		if got, ok := ForGVK(k.GVK()); !ok || got != k {
			t.Errorf("ForGVK(%s) failed", k.GVK())
		}
		for _, s := range k.Subresources {
			if s.Name == "" || s.Kind == "" || len(s.Verbs) == 0 {
				t.Errorf("%s: incomplete subresource %+v", gr, s)
			}
		}
	}
	if len(seen) != len(kinds) {
		t.Errorf("got %d distinct resources among %d kinds", len(seen), len(kinds))
	}
}

func TestDiscoveryNames(t *testing.T) {
	cases := []struct {
		group, resource, short, grString string
		namespaced, all                  bool
	}{
		{"", "pods", "po", "pods", true, true},
		{"", "services", "svc", "services", true, true},
		{"", "nodes", "no", "nodes", false, false},
		{"", "namespaces", "ns", "namespaces", false, false},
		{"", "events", "ev", "events", true, false},
		{"", "endpoints", "ep", "endpoints", true, false},
		{"", "configmaps", "cm", "configmaps", true, false},
		{"", "replicationcontrollers", "rc", "replicationcontrollers", true, true},
		{"apps", "deployments", "deploy", "deployments.apps", true, true},
		{"apps", "replicasets", "rs", "replicasets.apps", true, true},
	}
	for _, c := range cases {
		k, ok := Lookup(c.group, "v1", c.resource)
		if !ok {
			t.Fatalf("Lookup(%q, %q) failed", c.group, c.resource)
		}
		if len(k.ShortNames) != 1 || k.ShortNames[0] != c.short {
			t.Errorf("%s: shortNames %v, want %s", c.resource, k.ShortNames, c.short)
		}
		if k.Namespaced != c.namespaced {
			t.Errorf("%s: namespaced %v", c.resource, k.Namespaced)
		}
		if got := len(k.Categories) == 1 && k.Categories[0] == "all"; got != c.all {
			t.Errorf("%s: categories %v", c.resource, k.Categories)
		}
		if got := k.GroupResource().String(); got != c.grString {
			t.Errorf("%s: GroupResource %q, want %q", c.resource, got, c.grString)
		}
	}
	if _, ok := Lookup("", "v1", "deployments"); ok {
		t.Error("deployments found in the core group")
	}
	d, _ := Lookup("apps", "v1", "deployments")
	var scale *Subresource
	for i := range d.Subresources {
		if d.Subresources[i].Name == "scale" {
			scale = &d.Subresources[i]
		}
	}
	if scale == nil || scale.Group != "autoscaling" || scale.Version != "v1" || scale.Kind != "Scale" {
		t.Errorf("deployments/scale = %+v", scale)
	}
	if _, ok := ForGVK(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}); !ok {
		t.Error("ForGVK(apps/v1 Deployment) failed")
	}
}

// TestProtobufCreateBody decodes the protobuf body kubectl create deployment
// sends through Codecs: kubectl's create generators POST only protobuf, with
// no fallback to JSON, so a 415 would fail the command.
func TestProtobufCreateBody(t *testing.T) {
	in := &appsv1.Deployment{}
	in.APIVersion, in.Kind = "apps/v1", "Deployment"
	in.Name = "kubernetes-bootcamp"
	var buf []byte
	{
		s := protobuf.NewSerializer(Scheme(), Scheme())
		w := &bytes.Buffer{}
		if err := s.Encode(in, w); err != nil {
			t.Fatal(err)
		}
		buf = w.Bytes()
	}
	info, ok := runtime.SerializerInfoForMediaType(Codecs().SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	obj, gvk, err := info.Serializer.Decode(buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := obj.(*appsv1.Deployment); !ok || d.Name != "kubernetes-bootcamp" || gvk.Kind != "Deployment" {
		t.Fatalf("decoded %T %v", obj, gvk)
	}
}
