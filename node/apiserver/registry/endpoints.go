package registry

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func endpointsKind() *Kind {
	return &Kind{
		Group: "", Version: "v1", Kind: "Endpoints",
		Resource: "endpoints", Singular: "endpoints",
		ShortNames: []string{"ep"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.Endpoints{} },
		NewList:    func() runtime.Object { return &corev1.EndpointsList{} },
		Default:    typed(defaultEndpoints),
		Validate:   typedValidate(validateEndpoints),
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			ageColumn(),
		},
		Row: typedRow(3, func(ep *corev1.Endpoints, now time.Time) []interface{} {
			return []interface{}{ep.Name, formatEndpoints(ep), translateTimestampSince(ep.CreationTimestamp, now)}
		}),
		Fields: typedFields(func(ep *corev1.Endpoints) fields.Set { return objectMetaFields(&ep.ObjectMeta, true) }),
	}
}

// defaultEndpoints is SetDefaults_Endpoints: port protocol TCP.
func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func validateEndpoints(ep, old *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	if old == nil {
		errs = validateMeta(&ep.ObjectMeta, nil, true, apivalidation.NameIsDNSSubdomain)
	} else {
		errs = validateMeta(&ep.ObjectMeta, &old.ObjectMeta, true, nil)
	}
	for i, ss := range ep.Subsets {
		idx := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(idx, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(a, idx.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(a, idx.Child("notReadyAddresses").Index(j))...)
		}
		names := sets.New[string]()
		for j, p := range ss.Ports {
			pp := idx.Child("ports").Index(j)
			if len(ss.Ports) > 1 && p.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if p.Name != "" {
				errs = append(errs, validateDNS1123Label(p.Name, pp.Child("name"))...)
				if names.Has(p.Name) {
					errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
				}
				names.Insert(p.Name)
			}
			for _, msg := range validation.IsValidPortNum(int(p.Port)) {
				errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
			}
			errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

// validateEndpointAddress is validateEndpointAddress of Kubernetes: a
// well-formed address is then held to ValidateNonSpecialIP.
func validateEndpointAddress(a corev1.EndpointAddress, path *field.Path) field.ErrorList {
	errs := validation.IsValidIP(path.Child("ip"), a.IP)
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, path.Child("hostname"))...)
	}
	if a.NodeName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*a.NodeName, false) {
			errs = append(errs, field.Invalid(path.Child("nodeName"), *a.NodeName, msg))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return validateNonSpecialIP(a.IP, path.Child("ip"))
}

// validateNonSpecialIP is Kubernetes' ValidateNonSpecialIP, for Endpoints
// and EndpointSlices: unspecified and loopback addresses make no sense as
// endpoints, and link-local ones are the node's own business (a cloud's
// metadata service): a proxy must never be sent there.
func validateNonSpecialIP(addr string, path *field.Path) field.ErrorList {
	ip := net.ParseIP(addr)
	if ip == nil {
		return field.ErrorList{field.Invalid(path, addr, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(path, addr, fmt.Sprintf("may not be unspecified (%v)", addr)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(path, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(path, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(path, addr, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

// formatEndpoints lists up to three ip:port pairs, then "+ N more...", as
// kubectl prints them; "<none>" when there are no subsets.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more := false
	count := 0
	add := func(s string) {
		if len(list) == max {
			more = true
			return
		}
		list = append(list, s)
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}
