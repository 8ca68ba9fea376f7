package registry

import (
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func replicationControllerKind() *Kind {
	return &Kind{
		Group: "", Version: "v1", Kind: "ReplicationController",
		Resource: "replicationcontrollers", Singular: "replicationcontroller",
		ShortNames: []string{"rc"}, Categories: []string{"all"},
		Namespaced:   true,
		Verbs:        verbsAll,
		Subresources: []Subresource{scaleSub(), statusSub("ReplicationController")},
		HasStatus:    true,
		New:          func() runtime.Object { return &corev1.ReplicationController{} },
		NewList:      func() runtime.Object { return &corev1.ReplicationControllerList{} },
		Default:      typed(defaultReplicationController),
		Validate:     typedValidate(validateReplicationController),
		PrepareForCreate: typed(func(rc *corev1.ReplicationController) {
			rc.Generation = 1
			rc.Status = corev1.ReplicationControllerStatus{}
		}),
		PrepareForUpdate: typed2(func(rc, old *corev1.ReplicationController) {
			bumpGeneration(&rc.ObjectMeta, &old.ObjectMeta, !apiequality.Semantic.DeepEqual(rc.Spec, old.Spec))
		}),
		Columns: replicaColumns(corev1.ReplicationControllerSpec{}.SwaggerDoc(), corev1.ReplicationControllerStatus{}.SwaggerDoc()),
		Row:     typedRow(8, replicationControllerRow),
		Fields:  typedFields(replicationControllerFields),
	}
}

// defaultReplicationController is SetDefaults_ReplicationController: the
// selector and the object's labels default to the template's labels.
func defaultReplicationController(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = maps.Clone(t.Labels)
		}
		if len(rc.Labels) == 0 {
			rc.Labels = maps.Clone(t.Labels)
		}
		defaultPodTemplate(t)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr.To[int32](1)
	}
}

func validateReplicationController(rc, old *corev1.ReplicationController) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&rc.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&rc.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	spec := field.NewPath("spec")
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(rc.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	selector := labels.Set(rc.Spec.Selector).AsSelector()
	if selector.Empty() {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	}
	errs = append(errs, validateReplicas(rc.Spec.Replicas, spec.Child("replicas"))...)
	if rc.Spec.Template == nil {
		errs = append(errs, field.Required(spec.Child("template"), ""))
	} else {
		errs = append(errs, validatePodTemplateForController(rc.Spec.Template, selector, "ReplicationController", spec.Child("template"))...)
	}
	return errs
}

func replicationControllerFields(rc *corev1.ReplicationController) fields.Set {
	return mergeFields(objectMetaFields(&rc.ObjectMeta, true), fields.Set{
		"status.replicas": strconv.Itoa(int(rc.Status.Replicas)),
	})
}

func replicationControllerRow(rc *corev1.ReplicationController, now time.Time) []interface{} {
	var names, images string
	if rc.Spec.Template != nil {
		names, images = layoutContainerCells(rc.Spec.Template.Spec.Containers)
	}
	return []interface{}{
		rc.Name,
		int64(ptr.Deref(rc.Spec.Replicas, 1)),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		translateTimestampSince(rc.CreationTimestamp, now),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}
