package apiserver

import (
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/node/apiserver/registry"
)

// openAPIKind is one kind the OpenAPI documents describe: a stored kind
// (the registry's), or one an APIService serves (metrics.k8s.io's
// NodeMetrics, authorization.k8s.io's SelfSubjectAccessReview), so that
// every kind discovery lists has its model, as in kube-apiserver.
type openAPIKind struct {
	gvk  schema.GroupVersionKind
	obj  runtime.Object
	list runtime.Object // nil when the kind has no list
	// stored is the registry's kind; nil for an APIService's, which has
	// resource instead.
	stored   *registry.Kind
	resource metav1.APIResource
}

// openAPIKinds are the registry's kinds, then those of the APIServices
// whose Go types are known (APIService.Types).
func openAPIKinds(services []APIService) []openAPIKind {
	var out []openAPIKind
	for _, k := range registry.All() {
		out = append(out, openAPIKind{gvk: k.GVK(), obj: k.New(), list: k.NewList(), stored: k})
	}
	for _, svc := range services {
		types := map[string]runtime.Object{}
		for _, t := range svc.Types {
			types[reflect.TypeOf(t).Elem().Name()] = t
		}
		for _, r := range svc.Resources {
			obj, ok := types[r.Kind]
			if !ok || strings.Contains(r.Name, "/") {
				continue
			}
			out = append(out, openAPIKind{gvk: svc.GroupVersion.WithKind(r.Kind), obj: obj, list: types[r.Kind+"List"], resource: r})
		}
	}
	return out
}

// objectPath is the path of one named object of k, with the parameters in
// braces: /apis/apps/v1/namespaces/{namespace}/deployments/{name}.
func objectPath(k *registry.Kind) string {
	p := "/" + gvPath(k.Group, k.Version) + "/"
	if k.Namespaced {
		p += "namespaces/{namespace}/"
	}
	return p + k.Resource + "/{name}"
}

// serviceOp is one operation of an APIService's kind, by its verbs: create
// is POST on the collection, get GET on an object, list GET on the
// collection.
type serviceOp struct {
	path, method, action string
	response             map[string]any // the answer's schema ref
	body                 bool           // takes the kind as its body
}

func serviceOps(k openAPIKind, kindRef, listRef map[string]any) []serviceOp {
	r := k.resource
	base := "/" + gvPath(k.gvk.Group, k.gvk.Version) + "/"
	if r.Namespaced {
		base += "namespaces/{namespace}/"
	}
	base += r.Name
	var out []serviceOp
	if slices.Contains(r.Verbs, "create") {
		out = append(out, serviceOp{path: base, method: "post", action: "post", response: kindRef, body: true})
	}
	if slices.Contains(r.Verbs, "get") {
		out = append(out, serviceOp{path: base + "/{name}", method: "get", action: "get", response: kindRef})
	}
	if slices.Contains(r.Verbs, "list") && listRef != nil {
		out = append(out, serviceOp{path: base, method: "get", action: "list", response: listRef})
	}
	return out
}
