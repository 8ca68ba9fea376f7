// Package gc removes what no longer belongs: objects whose owners are all
// gone (with Kubernetes' background, orphan and foreground propagation),
// and the contents of deleted namespaces before their finalizer is
// released. Both scan every kind of the store generically, reading only
// metadata (meta.go), as Kubernetes' metadata informers do.
package gc
