package registry

import (
	"net"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

var supportedIPModes = []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}

// defaultLoadBalancerIPMode is SetDefaults_Service's part for the status:
// a LoadBalancer's ingress IP without ipMode gets VIP.
func defaultLoadBalancerIPMode(svc *corev1.Service) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return
	}
	for i := range svc.Status.LoadBalancer.Ingress {
		in := &svc.Status.LoadBalancer.Ingress[i]
		if in.IP != "" && in.IPMode == nil {
			in.IPMode = ptr.To(corev1.LoadBalancerIPModeVIP)
		}
	}
}

// validateServiceStatus is ValidateServiceStatusUpdate's check of the
// status, ValidateLoadBalancerStatus: a status update keeps the stored
// spec, so the stored type decides whether a load balancer status may be
// set. An IP the stored status already holds stays allowed.
func validateServiceStatus(svc, old *corev1.Service) field.ErrorList {
	path := field.NewPath("status", "loadBalancer", "ingress")
	lb := &svc.Status.LoadBalancer
	if old.Spec.Type != corev1.ServiceTypeLoadBalancer && len(lb.Ingress) != 0 {
		return field.ErrorList{field.Forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	var oldIPs []string
	for _, in := range old.Status.LoadBalancer.Ingress {
		oldIPs = append(oldIPs, in.IP)
	}
	var errs field.ErrorList
	for i, in := range lb.Ingress {
		p := path.Index(i)
		if in.IP != "" {
			errs = append(errs, validation.IsValidIPForLegacyField(p.Child("ip"), in.IP, true, oldIPs)...)
		}
		switch {
		case in.IPMode != nil && in.IP == "":
			errs = append(errs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
		case in.IPMode == nil && in.IP != "":
			errs = append(errs, field.Required(p.Child("ipMode"), "must be specified when `ip` is set"))
		case in.IPMode != nil && !slices.Contains(supportedIPModes, *in.IPMode):
			errs = append(errs, field.NotSupported(p.Child("ipMode"), *in.IPMode, supportedIPModes))
		}
		if in.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(in.Hostname, p.Child("hostname"))...)
			if net.ParseIP(in.Hostname) != nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
