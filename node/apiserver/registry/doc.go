// Package registry describes every API kind shoal serves, in Kubernetes terms.
//
// A Kind bundles what the HTTP layer needs to serve one resource without
// knowing its Go type: discovery data (resource names, verbs, subresources),
// typed constructors, Kubernetes defaulting, validation that returns
// Kubernetes' own field paths and messages, strategy hooks for create and
// update, server-side Table printing with kubectl's columns, and the fields a
// field selector may name.
//
// The package is pure: no I/O, no clocks (Row takes now), no store. Objects
// are the k8s.io/api types, so manifests from any Kubernetes tutorial apply
// unchanged.
//
// The order a write handler is expected to call the hooks in, mirroring the
// Kubernetes generic registry:
//
//	create: decode -> Default -> set namespace from URL, generate name ->
//	        PrepareForCreate -> Validate(obj, nil) -> store
//	update: decode/patch -> Default -> PrepareForUpdate(obj, old) ->
//	        (HasStatus: copy old status onto obj) -> Validate(obj, old) -> store
//
// PrepareForUpdate never touches status, so the same hook is safe on the
// status subresource path. Before it the handler carries the stored
// object's server-owned metadata over (kube-apiserver's rest.BeforeUpdate).
//
// A kind may be another version of a stored kind (Kind.StoredAs:
// events.k8s.io/v1 Event of core/v1 Event): its objects are kept under the
// stored kind's resource and converted as they cross the store. Validate expects name generation to have run
// already: an empty metadata.name is reported as "name or generateName is
// required".
//
// Usage:
//
//	k, ok := registry.Lookup("apps", "v1", "deployments")
//	obj := k.New()
//	// ... decode into obj ...
//	k.Default(obj)
//	if k.PrepareForCreate != nil {
//		k.PrepareForCreate(obj)
//	}
//	if errs := k.Validate(obj, nil); len(errs) > 0 {
//		// 422 Invalid, errs.ToAggregate().Error() is Kubernetes' message
//	}
//	cells := k.Row(obj, time.Now()) // one Table row under k.Columns
package registry
