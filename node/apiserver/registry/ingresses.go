package registry

import (
	"fmt"
	"net"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AnnotationIngressClass is the deprecated annotation that names an
// Ingress's class when spec.ingressClassName is unset.
const AnnotationIngressClass = "kubernetes.io/ingress.class"

var (
	supportedPathTypes = []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}
	// Paths of type Exact and Prefix may not hold these, as in Kubernetes.
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// ingressKind is networking.k8s.io/v1 Ingress.
func ingressKind() *Kind {
	return &Kind{
		Group: "networking.k8s.io", Version: "v1", Kind: "Ingress",
		Resource: "ingresses", Singular: "ingress",
		ShortNames:   []string{"ing"},
		Namespaced:   true,
		Verbs:        verbsAll,
		Subresources: []Subresource{statusSub("Ingress")},
		HasStatus:    true,
		New:          func() runtime.Object { return &networkingv1.Ingress{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressList{} },
		Default:      func(runtime.Object) {}, // networking/v1 defaults nothing on an Ingress
		Validate:     typedValidate(validateIngress),
		ValidateStatus: typedValidate(func(ing, old *networkingv1.Ingress) field.ErrorList {
			return validateIngressStatus(&ing.Status.LoadBalancer, &old.Status.LoadBalancer, field.NewPath("status", "loadBalancer"))
		}),
		PrepareForCreate: typed(func(ing *networkingv1.Ingress) {
			ing.Generation = 1
			ing.Status = networkingv1.IngressStatus{}
		}),
		PrepareForUpdate: typed2(func(ing, old *networkingv1.Ingress) {
			bumpGeneration(&ing.ObjectMeta, &old.ObjectMeta, !apiequality.Semantic.DeepEqual(ing.Spec, old.Spec))
		}),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
			column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
			column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
			column("Ports", "string", "Ports of TLS configurations that open"),
			ageColumn(),
		},
		Row: typedRow(6, ingressRow),
		Fields: typedFields(func(ing *networkingv1.Ingress) fields.Set {
			return objectMetaFields(&ing.ObjectMeta, true)
		}),
	}
}

// validateIngress is ValidateIngressCreate, or ValidateIngressUpdate when
// old is set. Invalid secret names and rules under wildcard hosts that an
// old object already holds stay allowed on update, as in Kubernetes.
func validateIngress(ing, old *networkingv1.Ingress) field.ErrorList {
	var errs field.ErrorList
	opts := ingressOptions{}
	if old == nil {
		errs = validateMeta(&ing.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&ing.ObjectMeta, &old.ObjectMeta, true, nil)
		// An update validates the new metadata as a create would, too.
		errs = append(errs, apivalidation.ValidateObjectMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, metadataPath)...)
		opts = ingressOptionsFor(old)
	}
	errs = append(errs, validateIngressSpec(&ing.Spec, field.NewPath("spec"), opts)...)
	if old == nil {
		if v, ok := ing.Annotations[AnnotationIngressClass]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
			errs = append(errs, field.Invalid(field.NewPath("annotations").Child(AnnotationIngressClass), v, "must match `ingressClassName` when both are specified"))
		}
	}
	return errs
}

// ingressOptions relax rules that existing objects may already break.
type ingressOptions struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

func ingressOptionsFor(old *networkingv1.Ingress) ingressOptions {
	var o ingressOptions
	for _, t := range old.Spec.TLS {
		if len(validateTLSSecretName(t.SecretName)) > 0 {
			o.allowInvalidSecretName = true
		}
	}
	for _, r := range old.Spec.Rules {
		if strings.Contains(r.Host, "*") && len(validateIngressRuleValue(&r.IngressRuleValue, nil)) > 0 {
			o.allowInvalidWildcardHostRule = true
		}
	}
	return o
}

func validateIngressSpec(spec *networkingv1.IngressSpec, path *field.Path, opts ingressOptions) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(path, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, path.Child("defaultBackend"))...)
	}
	for i := range spec.Rules {
		r := &spec.Rules[i]
		rp := path.Child("rules").Index(i)
		wildcard := strings.Contains(r.Host, "*")
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, rp.Child("host"), true)...)
		}
		if !wildcard || !opts.allowInvalidWildcardHostRule {
			errs = append(errs, validateIngressRuleValue(&r.IngressRuleValue, rp)...)
		}
	}
	for i, t := range spec.TLS {
		tp := path.Child("tls").Index(i)
		for j, h := range t.Hosts {
			errs = append(errs, validateIngressHost(h, tp.Child("hosts").Index(j), false)...)
		}
		if !opts.allowInvalidSecretName {
			for _, msg := range validateTLSSecretName(t.SecretName) {
				errs = append(errs, field.Invalid(tp.Child("secretName"), t.SecretName, msg))
			}
		}
	}
	if spec.IngressClassName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			errs = append(errs, field.Invalid(path.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return errs
}

// validateIngressHost checks a rule's host (which may not be an IP) or a
// TLS host: a DNS-1123 subdomain, or a wildcard one ("*.example.com").
func validateIngressHost(host string, path *field.Path, rule bool) field.ErrorList {
	var errs field.ErrorList
	if rule && net.ParseIP(host) != nil {
		errs = append(errs, field.Invalid(path, host, "must be a DNS name, not an IP address"))
	}
	msgs := validation.IsDNS1123Subdomain(host)
	if strings.Contains(host, "*") {
		msgs = validation.IsWildcardDNS1123Subdomain(host)
	}
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(path, host, msg))
	}
	return errs
}

func validateIngressRuleValue(v *networkingv1.IngressRuleValue, path *field.Path) field.ErrorList {
	if v.HTTP == nil {
		return nil
	}
	var errs field.ErrorList
	hp := path.Child("http")
	if len(v.HTTP.Paths) == 0 {
		errs = append(errs, field.Required(hp.Child("paths"), ""))
	}
	for i := range v.HTTP.Paths {
		errs = append(errs, validateHTTPIngressPath(&v.HTTP.Paths[i], hp.Child("paths").Index(i))...)
	}
	return errs
}

func validateHTTPIngressPath(p *networkingv1.HTTPIngressPath, path *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(path.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(path.Child("path"), p.Path, "must be an absolute path"))
		}
		for _, seq := range invalidPathSequences {
			if strings.Contains(p.Path, seq) {
				errs = append(errs, field.Invalid(path.Child("path"), p.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suf := range invalidPathSuffixes {
			if strings.HasSuffix(p.Path, suf) {
				errs = append(errs, field.Invalid(path.Child("path"), p.Path, fmt.Sprintf("cannot end with '%s'", suf)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(path.Child("path"), p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("pathType"), *p.PathType, supportedPathTypes))
	}
	return append(errs, validateIngressBackend(&p.Backend, path.Child("backend"))...)
}

// validateIngressBackend: exactly one of service and resource; a service
// backend names its Service (a DNS-1035 label, as Service names are) and
// one of port name and number.
func validateIngressBackend(b *networkingv1.IngressBackend, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(path, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		rp := path.Child("resource")
		if b.Resource.APIGroup != nil {
			errs = append(errs, validateDNS1123Subdomain(*b.Resource.APIGroup, rp.Child("apiGroup"))...)
		}
		errs = append(errs, requiredPathSegment(b.Resource.Kind, rp.Child("kind"))...)
		errs = append(errs, requiredPathSegment(b.Resource.Name, rp.Child("name"))...)
	case b.Service != nil:
		sp := path.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNS1035Label(b.Service.Name, false) {
				errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			errs = append(errs, field.Invalid(path, "", "cannot set both port name & port number"))
		case port.Name != "":
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(sp.Child("port", "name"), port.Name, msg))
			}
		case port.Number != 0:
			for _, msg := range validation.IsValidPortNum(int(port.Number)) {
				errs = append(errs, field.Invalid(sp.Child("port", "number"), port.Number, msg))
			}
		default:
			errs = append(errs, field.Required(path, "port name or number is required"))
		}
	default:
		errs = append(errs, field.Invalid(path, "", "resource or service backend is required"))
	}
	return errs
}

// requiredPathSegment checks a name that must be set and usable as one URL
// path segment.
func requiredPathSegment(v string, path *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	for _, msg := range content.IsPathSegmentName(v) {
		errs = append(errs, field.Invalid(path, v, msg))
	}
	return errs
}

// validateTLSSecretName: an empty name is allowed (the controller's own
// certificate); else a Secret name.
func validateTLSSecretName(name string) []string {
	if name == "" {
		return nil
	}
	return apivalidation.NameIsDNSSubdomain(name, false)
}

// validateIngressStatus is ValidateIngressLoadBalancerStatus, the status
// half of ValidateIngressStatusUpdate: an IP the stored status already
// holds stays allowed, as for Kubernetes' legacy IP fields.
func validateIngressStatus(s, old *networkingv1.IngressLoadBalancerStatus, path *field.Path) field.ErrorList {
	var oldIPs []string
	for _, in := range old.Ingress {
		oldIPs = append(oldIPs, in.IP)
	}
	var errs field.ErrorList
	for i, in := range s.Ingress {
		ip := path.Child("ingress").Index(i)
		if in.IP != "" {
			errs = append(errs, validation.IsValidIPForLegacyField(ip.Child("ip"), in.IP, true, oldIPs)...)
		}
		if in.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(in.Hostname, ip.Child("hostname"))...)
			if net.ParseIP(in.Hostname) != nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

// ingressRow is printIngress: Name, Class, Hosts, Address, Ports, Age.
func ingressRow(ing *networkingv1.Ingress, now time.Time) []interface{} {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	return []interface{}{
		ing.Name, class, ingressHosts(ing.Spec.Rules), ingressAddress(ing.Status.LoadBalancer), ports,
		translateTimestampSince(ing.CreationTimestamp, now),
	}
}

// ingressHosts is formatHosts: up to three hosts, "*" when no rule names
// one.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == max {
			more = true
		}
		if !more && r.Host != "" {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	out := strings.Join(list, ",")
	if more {
		out += fmt.Sprintf(" + %d more...", len(rules)-max)
	}
	return out
}

// ingressAddress lists the load balancer's IPs (or host names), sorted and
// unique, untruncated as in the server's (wide) Table.
func ingressAddress(s networkingv1.IngressLoadBalancerStatus) string {
	set := sets.New[string]()
	for _, in := range s.Ingress {
		if in.IP != "" {
			set.Insert(in.IP)
		} else if in.Hostname != "" {
			set.Insert(in.Hostname)
		}
	}
	return strings.Join(sets.List(set), ",")
}
