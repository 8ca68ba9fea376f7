package registry

import (
	"fmt"
	"net"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// endpointSliceKind is discovery.k8s.io/v1 EndpointSlice: what kubectl
// 1.32's `describe service` reads for a Service's endpoints.
func endpointSliceKind() *Kind {
	return &Kind{
		Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice",
		Resource: "endpointslices", Singular: "endpointslice",
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Default:    func(runtime.Object) {},
		Validate:   typedValidate(validateEndpointSlice),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("AddressType", "string", "The IP protocol for this slice"),
			column("Ports", "string", "The ports of this slice"),
			column("Endpoints", "string", "The endpoints of this slice"),
			ageColumn(),
		},
		Row: typedRow(5, func(s *discoveryv1.EndpointSlice, now time.Time) []interface{} {
			return []interface{}{s.Name, string(s.AddressType), slicePorts(s), sliceEndpoints(s), translateTimestampSince(s.CreationTimestamp, now)}
		}),
		Fields: typedFields(func(s *discoveryv1.EndpointSlice) fields.Set { return objectMetaFields(&s.ObjectMeta, true) }),
	}
}

func validateEndpointSlice(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&s.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&s.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, []string{"IPv4", "IPv6", "FQDN"}))
	}
	for i, e := range s.Endpoints {
		ap := field.NewPath("endpoints").Index(i).Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		}
		for j, a := range e.Addresses {
			errs = append(errs, validateSliceAddress(s.AddressType, a, ap.Index(j))...)
		}
	}
	return errs
}

// validateSliceAddress checks one address of the slice's type, as
// Kubernetes does: an IP of the right family, and not a special one
// (ValidateNonSpecialIP); an FQDN. Unknown types are not checked.
func validateSliceAddress(t discoveryv1.AddressType, a string, path *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := validation.IsValidIPForLegacyField(path, a, true, nil); len(errs) > 0 {
			return errs
		}
		var errs field.ErrorList
		if v4 := net.ParseIP(a).To4() != nil; v4 != (t == discoveryv1.AddressTypeIPv4) {
			errs = append(errs, field.Invalid(path, a, "must be an "+string(t)+" address"))
		}
		return append(errs, validateNonSpecialIP(a, path)...)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(path, a)
	}
	return nil
}

func slicePorts(s *discoveryv1.EndpointSlice) string {
	if len(s.Ports) == 0 {
		return "<unset>"
	}
	var ps []string
	for _, p := range s.Ports {
		if p.Port != nil {
			ps = append(ps, fmt.Sprint(*p.Port))
		}
	}
	return strings.Join(ps, ",")
}

func sliceEndpoints(s *discoveryv1.EndpointSlice) string {
	var addrs []string
	for _, e := range s.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	if len(addrs) == 0 {
		return "<unset>"
	}
	if len(addrs) > 3 {
		return strings.Join(addrs[:3], ",") + fmt.Sprintf(" + %d more...", len(addrs)-3)
	}
	return strings.Join(addrs, ",")
}
