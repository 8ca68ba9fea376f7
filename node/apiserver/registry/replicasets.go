package registry

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func replicaSetKind() *Kind {
	return &Kind{
		Group: "apps", Version: "v1", Kind: "ReplicaSet",
		Resource: "replicasets", Singular: "replicaset",
		ShortNames: []string{"rs"}, Categories: []string{"all"},
		Namespaced:       true,
		Verbs:            verbsAll,
		Subresources:     []Subresource{scaleSub(), statusSub("ReplicaSet")},
		HasStatus:        true,
		New:              func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:          func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Default:          typed(defaultReplicaSet),
		Validate:         typedValidate(validateReplicaSet),
		PrepareForCreate: typed(func(rs *appsv1.ReplicaSet) { rs.Generation = 1; rs.Status = appsv1.ReplicaSetStatus{} }),
		PrepareForUpdate: typed2(func(rs, old *appsv1.ReplicaSet) {
			bumpGeneration(&rs.ObjectMeta, &old.ObjectMeta, !apiequality.Semantic.DeepEqual(rs.Spec, old.Spec))
		}),
		Columns: replicaColumns(appsv1.ReplicaSetSpec{}.SwaggerDoc(), appsv1.ReplicaSetStatus{}.SwaggerDoc()),
		Row:     typedRow(8, replicaSetRow),
		Fields:  typedFields(replicaSetFields),
	}
}

// replicaColumns are the ReplicaSet and ReplicationController columns:
// Name, Desired, Current, Ready, Age | Containers, Images, Selector.
func replicaColumns(specDoc, statusDoc map[string]string) []metav1.TableColumnDefinition {
	return append([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", specDoc["replicas"]),
		column("Current", "integer", statusDoc["replicas"]),
		column("Ready", "integer", statusDoc["readyReplicas"]),
		ageColumn(),
	}, containerColumns(specDoc["selector"])...)
}

func defaultReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	defaultPodTemplate(&rs.Spec.Template)
}

func validateReplicaSet(rs, old *appsv1.ReplicaSet) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&rs.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&rs.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	spec := field.NewPath("spec")
	errs = append(errs, validateReplicas(rs.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(rs.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, validateWorkloadSelector(rs.Spec.Selector, &rs.Spec.Template, "ReplicaSet", spec)...)
	if old != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, old.Spec.Selector, spec.Child("selector"))...)
	}
	return errs
}

func replicaSetFields(rs *appsv1.ReplicaSet) fields.Set {
	return mergeFields(objectMetaFields(&rs.ObjectMeta, true), fields.Set{
		"status.replicas": strconv.Itoa(int(rs.Status.Replicas)),
	})
}

func replicaSetRow(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
	names, images := layoutContainerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		int64(ptr.Deref(rs.Spec.Replicas, 1)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		translateTimestampSince(rs.CreationTimestamp, now),
		names, images, selectorString(rs.Spec.Selector),
	}
}
