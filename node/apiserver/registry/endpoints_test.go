package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestNonSpecialEndpointIPs: Endpoints and EndpointSlices refuse the
// addresses Kubernetes' ValidateNonSpecialIP refuses, in its words, so no
// proxy is ever sent to the node's own loopback or link-local addresses.
func TestNonSpecialEndpointIPs(t *testing.T) {
	eps := func(ip string) runtime.Object {
		return &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.42.0.5"}, {IP: ip}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}
	}
	notReady := func(ip string) runtime.Object {
		return &corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			NotReadyAddresses: []corev1.EndpointAddress{{IP: ip}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}
	}
	slice := func(t discoveryv1.AddressType, addrs ...string) runtime.Object {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"}, AddressType: t,
			Endpoints: []discoveryv1.Endpoint{{Addresses: addrs}}}
	}
	cases := []errCase{
		{"loopback", eps("127.0.0.1"), `subsets[0].addresses[1].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"loopback anywhere in 127/8", eps("127.3.2.1"), `subsets[0].addresses[1].ip: Invalid value: "127.3.2.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"IPv6 loopback", eps("::1"), `subsets[0].addresses[1].ip: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"link-local (metadata service)", eps("169.254.169.254"), `subsets[0].addresses[1].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)`},
		{"IPv6 link-local", eps("fe80::1"), `subsets[0].addresses[1].ip: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)`},
		{"unspecified", eps("0.0.0.0"), `subsets[0].addresses[1].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)`},
		{"IPv6 unspecified", eps("::"), `subsets[0].addresses[1].ip: Invalid value: "::": may not be unspecified (::)`},
		{"link-local multicast", eps("224.0.0.251"), `subsets[0].addresses[1].ip: Invalid value: "224.0.0.251": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)`},
		{"not-ready loopback", notReady("127.0.0.1"), `subsets[0].notReadyAddresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"slice loopback", slice(discoveryv1.AddressTypeIPv4, "10.42.0.5", "127.0.0.1"),
			`endpoints[0].addresses[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"slice link-local", slice(discoveryv1.AddressTypeIPv6, "fe80::1"),
			`endpoints[0].addresses[0]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)`},
		{"slice family", slice(discoveryv1.AddressTypeIPv4, "2001:db8::1"), `endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be an IPv4 address`},
		{"slice not an IP", slice(discoveryv1.AddressTypeIPv4, "web"), `endpoints[0].addresses[0]: Invalid value: "web": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
	}
	for _, c := range cases {
		checkErrs(t, c.name, validateCreate(t, c.obj), c.want)
	}
	for name, obj := range map[string]runtime.Object{
		"pod IP":         eps("10.42.0.6"),
		"documentation":  eps("192.0.2.10"),
		"IPv6 slice":     slice(discoveryv1.AddressTypeIPv6, "2001:db8::5"),
		"IPv4 slice":     slice(discoveryv1.AddressTypeIPv4, "10.42.0.5", "10.42.1.7"),
		"FQDN slice":     slice(discoveryv1.AddressTypeFQDN, "db.example.test"),
		"not-ready addr": notReady("10.42.0.9"),
	} {
		if errs := validateCreate(t, obj); len(errs) != 0 {
			t.Errorf("%s: unexpected errors %v", name, errs)
		}
	}
}
