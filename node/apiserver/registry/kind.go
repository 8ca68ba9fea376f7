package registry

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Kind describes one API resource shoal serves: how it is discovered, built,
// defaulted, validated, printed and filtered. Every function field except
// PrepareForCreate, PrepareForUpdate and ValidateStatus is set on every Kind
// returned by All.
type Kind struct {
	// Group, Version and Kind name the type: "apps", "v1", "Deployment".
	// The core group is "".
	Group, Version, Kind string
	// Resource is the plural resource name used in URLs ("deployments"),
	// Singular its singular form ("deployment").
	Resource, Singular string
	// ShortNames ("deploy") and Categories ("all") as discovery reports them.
	ShortNames, Categories []string
	// Namespaced is true for namespace-scoped resources.
	Namespaced bool
	// Verbs are the discovery verbs of the main resource.
	Verbs []string
	// Subresources are listed in discovery as "<resource>/<name>".
	Subresources []Subresource
	// HasStatus reports a status subresource: updates of the main resource
	// keep the stored status, and status updates keep the stored spec.
	HasStatus bool
	// StatusTakesAnnotations: an update of the status subresource also
	// takes metadata.annotations (Deployments, as in Kubernetes).
	StatusTakesAnnotations bool
	// AnnotationsBumpGeneration: a change of metadata.annotations bumps
	// metadata.generation, as a spec change does (Deployments).
	AnnotationsBumpGeneration bool

	// New returns an empty object of this kind, NewList an empty list.
	New     func() runtime.Object
	NewList func() runtime.Object
	// Default applies Kubernetes defaulting in place. It is idempotent.
	Default func(obj runtime.Object)
	// Validate checks obj (old == nil on create, else the stored object for
	// an update), returning Kubernetes-style field errors (path + reason),
	// e.g. field.Invalid(field.NewPath("spec","replicas"), -1, "must be
	// greater than or equal to 0").
	Validate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatus checks an update of the status subresource (Kubernetes'
	// ValidateXStatusUpdate): obj is the new object, old the stored one. Only
	// status is taken from obj, so only status is checked; Validate never
	// looks at status, as an update of the main resource keeps the stored
	// one. nil: any status is accepted.
	ValidateStatus func(obj, old runtime.Object) field.ErrorList
	// PrepareForCreate and PrepareForUpdate are Kubernetes' strategy hooks
	// (pods: status.phase Pending and qosClass; namespaces: phase Active and
	// the kubernetes finalizer; workloads: metadata.generation). They may be
	// nil. PrepareForUpdate never modifies status.
	PrepareForCreate func(obj runtime.Object)
	PrepareForUpdate func(obj, old runtime.Object)
	// Columns are kubectl's Table columns, priority-1 (wide) ones included.
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of obj's Table row, one per column of Columns.
	Row func(obj runtime.Object, now time.Time) []interface{}
	// Fields returns the field-selector fields of obj: metadata.name,
	// metadata.namespace and the kind-specific ones Kubernetes supports.
	Fields func(obj runtime.Object) fields.Set

	// StoredAs, when set, makes this kind another version of a stored kind
	// (events.k8s.io/v1 Event of core/v1 Event): its objects are that
	// kind's, converted on the way in and out. nil for most kinds.
	StoredAs *StorageVersion
	stored   *Kind // resolved from StoredAs by init
}

// StorageVersion names the kind whose objects a kind serves, and converts
// between the two.
type StorageVersion struct {
	Resource   schema.GroupVersionResource
	ToStored   func(runtime.Object) runtime.Object
	FromStored func(runtime.Object) runtime.Object
}

// Stored is the kind whose objects the store keeps for k: k itself, or
// the kind StoredAs names.
func (k *Kind) Stored() *Kind {
	if k.stored != nil {
		return k.stored
	}
	return k
}

// StoreResource is the store's resource key of k's objects ("events").
func (k *Kind) StoreResource() string { return k.Stored().GroupResource().String() }

// Subresource is one discovery entry "<resource>/<Name>". Group and Version
// are set only when the subresource's Kind lives in another group-version
// (deployments/scale is autoscaling/v1 Scale).
type Subresource struct {
	Name, Group, Version, Kind string
	Verbs                      []string
}

// GroupVersion returns the kind's group-version.
func (k *Kind) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: k.Group, Version: k.Version}
}

// GroupResource returns the kind's group-resource. Its String() gives
// "deployments.apps" or "pods", the form Kubernetes uses in error messages
// and shoal uses as the store's resource key.
func (k *Kind) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.Group, Resource: k.Resource}
}

// GVK returns the kind's group-version-kind.
func (k *Kind) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// Discovery verb sets.
var (
	verbsAll        = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsNamespace  = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	verbsGetPatchUp = []string{"get", "patch", "update"}
	verbsCreateGet  = []string{"create", "get"}
	verbsProxy      = []string{"create", "delete", "get", "patch", "update"}
)

func statusSub(kind string) Subresource {
	return Subresource{Name: "status", Kind: kind, Verbs: verbsGetPatchUp}
}

func scaleSub() Subresource {
	return Subresource{Name: "scale", Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: verbsGetPatchUp}
}

// kinds is the registry in the stable order All returns: core/v1 first, then
// apps/v1, then the named groups, each in the order Kubernetes' discovery
// lists them.
var kinds = []*Kind{
	configMapKind(),
	endpointsKind(),
	eventKind(),
	namespaceKind(),
	nodeKind(),
	podKind(),
	replicationControllerKind(),
	secretKind(),
	serviceKind(),
	deploymentKind(),
	replicaSetKind(),
	endpointSliceKind(),
	leaseKind(),
	ingressClassKind(),
	ingressKind(),
	eventV1Kind(),
}

var (
	byResource = map[schema.GroupVersionResource]*Kind{}
	byGVK      = map[schema.GroupVersionKind]*Kind{}
)

func init() {
	for _, k := range kinds {
		gvr := k.GroupVersion().WithResource(k.Resource)
		if _, dup := byResource[gvr]; dup {
			panic("registry: duplicate resource " + gvr.String())
		}
		byResource[gvr] = k
		byGVK[k.GVK()] = k
	}
	for _, k := range kinds {
		if k.StoredAs == nil {
			continue
		}
		stored, ok := byResource[k.StoredAs.Resource]
		if !ok || stored.StoredAs != nil {
			panic("registry: " + k.GVK().String() + " is stored as " + k.StoredAs.Resource.String() + ", which is not a stored kind")
		}
		k.stored = stored
	}
}

// All returns every kind, in a stable order. Callers must not modify them.
func All() []*Kind {
	out := make([]*Kind, len(kinds))
	copy(out, kinds)
	return out
}

// Lookup finds a kind by group, version and plural resource name
// ("apps", "v1", "deployments"; "", "v1", "pods").
func Lookup(group, version, resource string) (*Kind, bool) {
	k, ok := byResource[schema.GroupVersionResource{Group: group, Version: version, Resource: resource}]
	return k, ok
}

// ForGVK finds a kind by group-version-kind.
func ForGVK(gvk schema.GroupVersionKind) (*Kind, bool) {
	k, ok := byGVK[gvk]
	return k, ok
}

// typed adapts a function on a concrete type to one on runtime.Object. Objects
// of another type are ignored.
func typed[T runtime.Object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) {
		if t, ok := obj.(T); ok {
			f(t)
		}
	}
}

// typed2 is typed for the (obj, old) hooks. old may be nil.
func typed2[T runtime.Object](f func(obj, old T)) func(obj, old runtime.Object) {
	return func(obj, old runtime.Object) {
		t, ok := obj.(T)
		if !ok {
			return
		}
		o, _ := old.(T)
		f(t, o)
	}
}

// typedValidate adapts a validation function; old is the zero T (nil) on
// create. A wrong type is reported as an internal error.
func typedValidate[T runtime.Object](f func(obj, old T) field.ErrorList) func(obj, old runtime.Object) field.ErrorList {
	return func(obj, old runtime.Object) field.ErrorList {
		t, ok := obj.(T)
		if !ok {
			return field.ErrorList{field.InternalError(nil, errWrongType(obj))}
		}
		var o T
		if old != nil {
			if o, ok = old.(T); !ok {
				return field.ErrorList{field.InternalError(nil, errWrongType(old))}
			}
		}
		return f(t, o)
	}
}

// typedRow adapts a row printer. A wrong type prints as a row of "<unknown>".
func typedRow[T runtime.Object](ncols int, f func(T, time.Time) []interface{}) func(runtime.Object, time.Time) []interface{} {
	return func(obj runtime.Object, now time.Time) []interface{} {
		t, ok := obj.(T)
		if !ok {
			cells := make([]interface{}, ncols)
			for i := range cells {
				cells[i] = "<unknown>"
			}
			return cells
		}
		return f(t, now)
	}
}

// typedFields adapts a field-set function. A wrong type has no fields.
func typedFields[T runtime.Object](f func(T) fields.Set) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set {
		t, ok := obj.(T)
		if !ok {
			return fields.Set{}
		}
		return f(t)
	}
}
