package registry

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func namespaceKind() *Kind {
	return &Kind{
		Group: "", Version: "v1", Kind: "Namespace",
		Resource: "namespaces", Singular: "namespace",
		ShortNames: []string{"ns"},
		Namespaced: false,
		Verbs:      verbsNamespace,
		Subresources: []Subresource{
			{Name: "finalize", Kind: "Namespace", Verbs: []string{"update"}},
			statusSub("Namespace"),
		},
		HasStatus:        true,
		New:              func() runtime.Object { return &corev1.Namespace{} },
		NewList:          func() runtime.Object { return &corev1.NamespaceList{} },
		Default:          typed(defaultNamespace),
		Validate:         typedValidate(validateNamespace),
		PrepareForCreate: typed(prepareNamespaceForCreate),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Status", "string", "The status of the namespace"),
			ageColumn(),
		},
		Row:    typedRow(3, namespaceRow),
		Fields: typedFields(namespaceFields),
	}
}

// defaultNamespace is SetDefaults_Namespace and SetDefaults_NamespaceStatus:
// the kubernetes.io/metadata.name label and phase Active.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// prepareNamespaceForCreate starts the namespace Active with the kubernetes
// finalizer, which the namespace controller removes (through finalize) once
// the namespace's content is gone. Unlike Kubernetes, PrepareForUpdate does
// not pin spec.finalizers to the stored value, so a finalize written as a
// plain update still works.
func prepareNamespaceForCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

func validateNamespace(ns, old *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&ns.ObjectMeta, nil, false, apivalidation.NameIsDNSLabel)
	} else {
		errs = validateMeta(&ns.ObjectMeta, &old.ObjectMeta, false, nil)
	}
	for _, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return errs
}

// validateFinalizerName accepts qualified names and the standard
// unqualified ones.
func validateFinalizerName(name string, path *field.Path) field.ErrorList {
	errs := apivalidation.ValidateFinalizerName(name, path)
	if !strings.Contains(name, "/") {
		switch name {
		case string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents:
		default:
			errs = append(errs, field.Invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func namespaceFields(ns *corev1.Namespace) fields.Set {
	return mergeFields(objectMetaFields(&ns.ObjectMeta, false), fields.Set{
		"name":         ns.Name,
		"status.phase": string(ns.Status.Phase),
	})
}

func namespaceRow(ns *corev1.Namespace, now time.Time) []interface{} {
	return []interface{}{ns.Name, string(ns.Status.Phase), translateTimestampSince(ns.CreationTimestamp, now)}
}
