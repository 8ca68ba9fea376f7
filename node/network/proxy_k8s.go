package network

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ProxyServiceFromAPI turns a core/v1 Service and its Endpoints (nil when
// there are none yet) into what the proxy needs. Each Service port gets
// the ready addresses (never notReadyAddresses) of the Endpoints subsets
// that carry a port of the same name, with that port's number: the
// Endpoints controller has already resolved a named targetPort per pod, so
// two pods may serve one Service port on different numbers.
func ProxyServiceFromAPI(svc *corev1.Service, eps *corev1.Endpoints) ProxyService {
	ps := ProxyService{
		Namespace:             svc.Namespace,
		Name:                  svc.Name,
		ClusterIPs:            svc.Spec.ClusterIPs,
		Type:                  string(svc.Spec.Type),
		ExternalTrafficPolicy: string(svc.Spec.ExternalTrafficPolicy),
		SessionAffinity:       string(svc.Spec.SessionAffinity),
	}
	if len(ps.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		ps.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		ps.SessionAffinityTimeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
	}
	for _, sp := range svc.Spec.Ports {
		pp := ProxyPort{Name: sp.Name, Protocol: string(sp.Protocol), Port: sp.Port, NodePort: sp.NodePort}
		if pp.Protocol == "" {
			pp.Protocol = string(corev1.ProtocolTCP)
		}
		if eps != nil {
			pp.Endpoints = readyEndpoints(eps, sp, len(svc.Spec.Ports) == 1)
		}
		ps.Ports = append(ps.Ports, pp)
	}
	return ps
}

// readyEndpoints are the ready addresses serving Service port sp. A
// single-port Service also matches an unnamed Endpoints port of the same
// protocol, as hand-written Endpoints often have.
func readyEndpoints(eps *corev1.Endpoints, sp corev1.ServicePort, single bool) []ProxyEndpoint {
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	var out []ProxyEndpoint
	for _, ss := range eps.Subsets {
		for _, ep := range ss.Ports {
			epProto := ep.Protocol
			if epProto == "" {
				epProto = corev1.ProtocolTCP
			}
			if epProto != proto || (ep.Name != sp.Name && !(single && ep.Name == "")) {
				continue
			}
			for _, a := range ss.Addresses {
				out = append(out, ProxyEndpoint{IP: a.IP, Port: ep.Port})
			}
			break
		}
	}
	return out
}
