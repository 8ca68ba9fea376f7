package registry

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// Leases (coordination.k8s.io/v1): each kubelet renews one in
// kube-node-lease as its heartbeat, as in Kubernetes.
func leaseKind() *Kind {
	return &Kind{
		Group: "coordination.k8s.io", Version: "v1", Kind: "Lease",
		Resource: "leases", Singular: "lease",
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
		Default:    func(runtime.Object) {},
		Validate:   typedValidate(validateLease),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			ageColumn(),
		},
		Row: typedRow(3, func(l *coordinationv1.Lease, now time.Time) []interface{} {
			return []interface{}{l.Name, ptr.Deref(l.Spec.HolderIdentity, ""), translateTimestampSince(l.CreationTimestamp, now)}
		}),
		Fields: typedFields(func(l *coordinationv1.Lease) fields.Set { return objectMetaFields(&l.ObjectMeta, true) }),
	}
}

// validateLease is Kubernetes' ValidateLeaseSpec.
func validateLease(l, old *coordinationv1.Lease) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&l.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&l.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	spec := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(spec.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if n := l.Spec.LeaseTransitions; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(spec.Child("leaseTransitions"), *n, "must be greater than or equal to 0"))
	}
	return errs
}
