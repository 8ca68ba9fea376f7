package registry

import (
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var metadataPath = field.NewPath("metadata")

// validateMeta validates metadata on create (old == nil) or update, as the
// Kubernetes registry does for every kind.
func validateMeta(obj, old *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	if old == nil {
		return apivalidation.ValidateObjectMeta(obj, namespaced, nameFn, metadataPath)
	}
	return apivalidation.ValidateObjectMetaUpdate(obj, old, metadataPath)
}

// objectMetaFields is the generic field set of every kind.
func objectMetaFields(m *metav1.ObjectMeta, namespaced bool) fields.Set {
	s := fields.Set{"metadata.name": m.Name}
	if namespaced {
		s["metadata.namespace"] = m.Namespace
	}
	return s
}

// mergeFields adds extra to base and returns base.
func mergeFields(base fields.Set, extra fields.Set) fields.Set {
	for k, v := range extra {
		base[k] = v
	}
	return base
}

// bumpGeneration keeps the stored generation and increments it when changed
// is true, as the workload strategies' PrepareForUpdate do.
func bumpGeneration(obj, old *metav1.ObjectMeta, changed bool) {
	obj.Generation = old.Generation
	if changed {
		obj.Generation++
	}
}
