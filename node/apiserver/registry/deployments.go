package registry

import (
	"fmt"
	"regexp"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func deploymentKind() *Kind {
	statusDoc := appsv1.DeploymentStatus{}.SwaggerDoc()
	return &Kind{
		Group: "apps", Version: "v1", Kind: "Deployment",
		Resource: "deployments", Singular: "deployment",
		ShortNames: []string{"deploy"}, Categories: []string{"all"},
		Namespaced:       true,
		Verbs:            verbsAll,
		Subresources:     []Subresource{scaleSub(), statusSub("Deployment")},
		HasStatus:        true,
		New:              func() runtime.Object { return &appsv1.Deployment{} },
		NewList:          func() runtime.Object { return &appsv1.DeploymentList{} },
		Default:          typed(defaultDeployment),
		Validate:         typedValidate(validateDeployment),
		PrepareForCreate: typed(func(d *appsv1.Deployment) { d.Generation = 1; d.Status = appsv1.DeploymentStatus{} }),
		PrepareForUpdate: typed2(func(d, old *appsv1.Deployment) {
			// Spec or annotation changes bump generation: annotations are
			// copied to the ReplicaSets. The FSM decides it again
			// (AnnotationsBumpGeneration); this is for dry runs.
			bumpGeneration(&d.ObjectMeta, &old.ObjectMeta,
				!apiequality.Semantic.DeepEqual(d.Spec, old.Spec) || !apiequality.Semantic.DeepEqual(d.Annotations, old.Annotations))
		}),
		AnnotationsBumpGeneration: true,
		StatusTakesAnnotations:    true,
		// The status write takes annotations too (the controller records
		// revisions that way), so they are checked there, as Kubernetes'
		// ValidateDeploymentStatusUpdate does with the object's metadata.
		ValidateStatus: typedValidate(func(d, old *appsv1.Deployment) field.ErrorList {
			return apivalidation.ValidateAnnotations(d.Annotations, field.NewPath("metadata", "annotations"))
		}),
		Columns: append([]metav1.TableColumnDefinition{
			nameColumn(),
			column("Ready", "string", "Number of the pod with ready state"),
			column("Up-to-date", "string", statusDoc["updatedReplicas"]),
			column("Available", "string", statusDoc["availableReplicas"]),
			ageColumn(),
		}, containerColumns(appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])...),
		Row:    typedRow(8, deploymentRow),
		Fields: typedFields(func(d *appsv1.Deployment) fields.Set { return objectMetaFields(&d.ObjectMeta, true) }),
	}
}

// defaultDeployment is apps/v1 SetDefaults_Deployment plus the template's
// pod defaults. An empty strategy ({}) becomes RollingUpdate 25%/25%.
func defaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptr.To[int32](1)
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	defaultPodTemplate(&d.Spec.Template)
}

func validateDeployment(d, old *appsv1.Deployment) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&d.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&d.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	spec := field.NewPath("spec")
	errs = append(errs, validateReplicas(d.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, validateWorkloadSelector(d.Spec.Selector, &d.Spec.Template, "ReplicaSet", spec)...)
	errs = append(errs, validateDeploymentStrategy(&d.Spec.Strategy, spec.Child("strategy"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(d.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	if d.Spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*d.Spec.RevisionHistoryLimit), spec.Child("revisionHistoryLimit"))...)
	}
	if p := d.Spec.ProgressDeadlineSeconds; p != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*p), spec.Child("progressDeadlineSeconds"))...)
		if *p <= d.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
		}
	}
	if old != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, old.Spec.Selector, spec.Child("selector"))...)
	}
	return errs
}

// validateReplicas checks a defaulted replica count.
func validateReplicas(replicas *int32, path *field.Path) field.ErrorList {
	if replicas == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*replicas), path)
}

// validateWorkloadSelector validates the selector of a Deployment or
// ReplicaSet and the template against it (apps ValidateDeploymentSpec and
// ValidateReplicaSetSpec share these rules and messages).
func validateWorkloadSelector(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, kindName string, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := spec.Child("selector")
	if sel == nil {
		errs = append(errs, field.Required(selPath, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, selPath)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(selPath, sel, "empty selector is invalid for deployment"))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(selPath, sel, "invalid label selector"))
	}
	return append(errs, validatePodTemplateForController(t, selector, kindName, spec.Child("template"))...)
}

var percentRE = regexp.MustCompile(`^[0-9]+%$`)

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(path.Child("rollingUpdate"), fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType)))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(path.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		ru := s.RollingUpdate
		ruPath := path.Child("rollingUpdate")
		errs = append(errs, validatePositiveIntOrPercent(ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
		errs = append(errs, validatePositiveIntOrPercent(ru.MaxSurge, ruPath.Child("maxSurge"))...)
		if intOrPercentValue(ru.MaxUnavailable) == 0 && intOrPercentValue(ru.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(ruPath.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		if ru.MaxUnavailable != nil && ru.MaxUnavailable.Type == intstr.String && percentRE.MatchString(ru.MaxUnavailable.StrVal) && intOrPercentValue(ru.MaxUnavailable) > 100 {
			errs = append(errs, field.Invalid(ruPath.Child("maxUnavailable"), ru.MaxUnavailable, "must not be greater than 100%"))
		}
	default:
		valid := []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, valid))
	}
	return errs
}

func validatePositiveIntOrPercent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.String:
		if !percentRE.MatchString(v.StrVal) {
			return field.ErrorList{field.Invalid(path, v, "must be an integer or percentage (e.g '5%')")}
		}
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), path)
	}
	return nil
}

func intOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if v.Type == intstr.Int {
		return v.IntValue()
	}
	n := 0
	for _, r := range v.StrVal {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// deploymentRow is printDeployment: Name, Ready, Up-to-date, Available, Age
// | Containers, Images, Selector.
func deploymentRow(d *appsv1.Deployment, now time.Time) []interface{} {
	desired := ptr.Deref(d.Spec.Replicas, 1)
	names, images := layoutContainerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		translateTimestampSince(d.CreationTimestamp, now),
		names, images, selectorString(d.Spec.Selector),
	}
}
