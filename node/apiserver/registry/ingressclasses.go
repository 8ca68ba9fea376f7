package registry

import (
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// maxIngressClassController bounds spec.controller, in bytes.
const maxIngressClassController = 250

var supportedParameterScopes = []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}

// ingressClassKind is networking.k8s.io/v1 IngressClass (cluster-scoped).
func ingressClassKind() *Kind {
	return &Kind{
		Group: "networking.k8s.io", Version: "v1", Kind: "IngressClass",
		Resource: "ingressclasses", Singular: "ingressclass",
		Verbs:            verbsAll,
		New:              func() runtime.Object { return &networkingv1.IngressClass{} },
		NewList:          func() runtime.Object { return &networkingv1.IngressClassList{} },
		Default:          typed(defaultIngressClass),
		Validate:         typedValidate(validateIngressClass),
		PrepareForCreate: typed(func(c *networkingv1.IngressClass) { c.Generation = 1 }),
		PrepareForUpdate: typed2(func(c, old *networkingv1.IngressClass) {
			bumpGeneration(&c.ObjectMeta, &old.ObjectMeta, !apiequality.Semantic.DeepEqual(c.Spec, old.Spec))
		}),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Controller", "string", "Controller that is responsible for handling this class"),
			column("Parameters", "string", "A reference to a resource with additional parameters"),
			ageColumn(),
		},
		Row: typedRow(4, ingressClassRow),
		Fields: typedFields(func(c *networkingv1.IngressClass) fields.Set {
			return objectMetaFields(&c.ObjectMeta, false)
		}),
	}
}

// defaultIngressClass is SetDefaults_IngressClass: parameters are
// cluster-scoped unless they say otherwise.
func defaultIngressClass(c *networkingv1.IngressClass) {
	if p := c.Spec.Parameters; p != nil && p.Scope == nil {
		p.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

// validateIngressClass is ValidateIngressClass, plus on update the
// immutable controller.
func validateIngressClass(c, old *networkingv1.IngressClass) field.ErrorList {
	var errs field.ErrorList
	if old != nil {
		errs = validateMeta(&c.ObjectMeta, &old.ObjectMeta, false, nil)
		errs = append(errs, apivalidation.ValidateImmutableField(c.Spec.Controller, old.Spec.Controller, field.NewPath("spec", "controller"))...)
	}
	errs = append(errs, validateMeta(&c.ObjectMeta, nil, false, apivalidation.NameIsDNSSubdomain)...)
	spec := field.NewPath("spec")
	switch ctl := c.Spec.Controller; {
	case ctl == "":
		errs = append(errs, field.Required(spec.Child("controller"), ""))
	default:
		if len(ctl) > maxIngressClassController {
			errs = append(errs, field.TooLong(spec.Child("controller"), "", maxIngressClassController))
		}
		errs = append(errs, validation.IsDomainPrefixedPath(spec.Child("controller"), ctl)...)
	}
	return append(errs, validateIngressClassParameters(c.Spec.Parameters, spec.Child("parameters"))...)
}

func validateIngressClassParameters(p *networkingv1.IngressClassParametersReference, path *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	if p.APIGroup != nil {
		errs = append(errs, validateDNS1123Subdomain(*p.APIGroup, path.Child("apiGroup"))...)
	}
	errs = append(errs, requiredPathSegment(p.Kind, path.Child("kind"))...)
	errs = append(errs, requiredPathSegment(p.Name, path.Child("name"))...)
	if p.Scope == nil {
		return append(errs, field.Required(path.Child("scope"), ""))
	}
	switch scope := *p.Scope; {
	case !slices.Contains(supportedParameterScopes, scope):
		errs = append(errs, field.NotSupported(path.Child("scope"), scope, supportedParameterScopes))
	case scope == networkingv1.IngressClassParametersReferenceScopeNamespace && p.Namespace == nil:
		errs = append(errs, field.Required(path.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
	case scope == networkingv1.IngressClassParametersReferenceScopeNamespace:
		for _, msg := range apivalidation.ValidateNamespaceName(*p.Namespace, false) {
			errs = append(errs, field.Invalid(path.Child("namespace"), *p.Namespace, msg))
		}
	case p.Namespace != nil:
		errs = append(errs, field.Forbidden(path.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
	}
	return errs
}

// ingressClassRow is printIngressClass: Name, Controller, Parameters, Age.
func ingressClassRow(c *networkingv1.IngressClass, now time.Time) []interface{} {
	params := "<none>"
	if p := c.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []interface{}{c.Name, c.Spec.Controller, params, translateTimestampSince(c.CreationTimestamp, now)}
}
