package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// validateStatus runs the status update path: Default, then
// ValidateStatus against the stored old.
func validateStatus(t *testing.T, old runtime.Object, mutate func(runtime.Object)) field.ErrorList {
	t.Helper()
	k := kindOf(t, old)
	if k.ValidateStatus == nil {
		t.Fatalf("%s has no ValidateStatus", k.Kind)
	}
	k.Default(old)
	obj := old.DeepCopyObject()
	mutate(obj)
	k.Default(obj)
	return k.ValidateStatus(obj, old)
}

func lbService(mod func(*corev1.Service)) *corev1.Service {
	return service(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		if mod != nil {
			mod(s)
		}
	})
}

// TestStatusUpdateValidation: ValidateIngressStatusUpdate and
// ValidateServiceStatusUpdate, with Kubernetes' field paths and words.
func TestStatusUpdateValidation(t *testing.T) {
	ingLB := func(in ...networkingv1.IngressLoadBalancerIngress) func(runtime.Object) {
		return func(o runtime.Object) { o.(*networkingv1.Ingress).Status.LoadBalancer.Ingress = in }
	}
	svcLB := func(in ...corev1.LoadBalancerIngress) func(runtime.Object) {
		return func(o runtime.Object) { o.(*corev1.Service).Status.LoadBalancer.Ingress = in }
	}
	vip := ptr.To(corev1.LoadBalancerIPModeVIP)
	cases := []struct {
		name   string
		old    runtime.Object
		mutate func(runtime.Object)
		want   string // "" means valid
	}{
		{"ingress IPs", ingress(nil), ingLB(networkingv1.IngressLoadBalancerIngress{IP: "192.0.2.1"}, networkingv1.IngressLoadBalancerIngress{IP: "2001:db8::1"}), ""},
		{"ingress hostname", ingress(nil), ingLB(networkingv1.IngressLoadBalancerIngress{Hostname: "lb.example.test"}), ""},
		{"ingress bad IP", ingress(nil), ingLB(networkingv1.IngressLoadBalancerIngress{IP: "not-an-ip"}),
			`status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		{"ingress hostname is an IP", ingress(nil), ingLB(networkingv1.IngressLoadBalancerIngress{Hostname: "10.1.2.3"}),
			`status.loadBalancer.ingress[0].hostname: Invalid value: "10.1.2.3": must be a DNS name, not an IP address`},
		{"ingress bad IP already stored", ingress(func(i *networkingv1.Ingress) {
			i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "010.1.2.3"}}
		}), ingLB(networkingv1.IngressLoadBalancerIngress{IP: "010.1.2.3"}, networkingv1.IngressLoadBalancerIngress{IP: "192.0.2.1"}), ""},

		{"service IP gets ipMode VIP", lbService(nil), svcLB(corev1.LoadBalancerIngress{IP: "192.0.2.1"}), ""},
		{"service bad IP", lbService(nil), svcLB(corev1.LoadBalancerIngress{IP: "not-an-ip", IPMode: vip}),
			`status.loadBalancer.ingress[0].ip: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		{"service hostname is an IP", lbService(nil), svcLB(corev1.LoadBalancerIngress{Hostname: "10.1.2.3"}),
			`status.loadBalancer.ingress[0].hostname: Invalid value: "10.1.2.3": must be a DNS name, not an IP address`},
		{"service ipMode without IP", lbService(nil), svcLB(corev1.LoadBalancerIngress{Hostname: "lb.example.test", IPMode: vip}),
			"status.loadBalancer.ingress[0].ipMode: Forbidden: may not be specified when `ip` is not set"},
		{"service ipMode unsupported", lbService(nil), svcLB(corev1.LoadBalancerIngress{IP: "192.0.2.1", IPMode: ptr.To(corev1.LoadBalancerIPMode("Tunnel"))}),
			`status.loadBalancer.ingress[0].ipMode: Unsupported value: "Tunnel": supported values: "Proxy", "VIP"`},
		{"service not a LoadBalancer", service(nil), svcLB(corev1.LoadBalancerIngress{IP: "192.0.2.1"}),
			"status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"},
		{"service not a LoadBalancer, no ingress", service(nil), svcLB(), ""},
	}
	for _, c := range cases {
		errs := validateStatus(t, c.old, c.mutate)
		if c.want == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected errors: %v", c.name, errs)
			}
			continue
		}
		checkErrs(t, c.name, errs, c.want)
	}

	// Defaulting fills in ipMode before validation, as Kubernetes does.
	svc := lbService(func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	})
	kindOf(t, svc).Default(svc)
	if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
		t.Errorf("ipMode after defaulting: %v, want VIP", m)
	}
}
