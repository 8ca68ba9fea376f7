package servicesync

import (
	"encoding/json"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/dnsd"
)

// Resolver answers dnsd from the local replica.
type Resolver struct {
	Store *consensus.Store
}

var _ dnsd.Resolver = (*Resolver)(nil)

// Service describes one Service for DNS; Endpoints are the ready ones.
func (r *Resolver) Service(namespace, name string) (*dnsd.Service, error) {
	o, err := r.Store.Get("services", namespace, name)
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, dnsd.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var svc corev1.Service
	if err := json.Unmarshal(o.Raw, &svc); err != nil {
		return nil, err
	}
	out := &dnsd.Service{
		Type:         dnsd.ServiceType(svc.Spec.Type),
		ClusterIPs:   svc.Spec.ClusterIPs,
		ExternalName: svc.Spec.ExternalName,
	}
	if len(out.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		out.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	for _, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		out.Ports = append(out.Ports, dnsd.Port{Name: p.Name, Protocol: proto, Port: p.Port})
	}
	if eo, err := r.Store.Get("endpoints", namespace, name); err == nil {
		var eps corev1.Endpoints
		if json.Unmarshal(eo.Raw, &eps) == nil {
			for _, s := range eps.Subsets {
				for _, a := range s.Addresses {
					e := dnsd.Endpoint{IP: a.IP, Hostname: a.Hostname}
					if a.TargetRef != nil {
						e.PodName = a.TargetRef.Name
					}
					out.Endpoints = append(out.Endpoints, e)
				}
			}
		}
	}
	return out, nil
}

// PodIPExists says whether a pod of namespace has ip.
func (r *Resolver) PodIPExists(namespace, ip string) bool {
	pods, _, _ := r.Store.List("pods", namespace, "", 0)
	for _, o := range pods {
		if strings.Contains(string(o.Raw), `"podIP":"`+ip+`"`) {
			return true
		}
	}
	return false
}

// ReverseLookup names a ClusterIP ("svc.ns.svc") or a pod IP
// ("a-b-c-d.ns.pod").
func (r *Resolver) ReverseLookup(ip string) (string, bool) {
	svcs, _, _ := r.Store.List("services", "", "", 0)
	for _, o := range svcs {
		var svc corev1.Service
		if json.Unmarshal(o.Raw, &svc) != nil {
			continue
		}
		for _, c := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
			if c == ip {
				return svc.Name + "." + svc.Namespace + ".svc", true
			}
		}
	}
	pods, _, _ := r.Store.List("pods", "", "", 0)
	for _, o := range pods {
		if strings.Contains(string(o.Raw), `"podIP":"`+ip+`"`) {
			return strings.ReplaceAll(ip, ".", "-") + "." + o.Namespace + ".pod", true
		}
	}
	return "", false
}

// NamespaceExists says whether the namespace exists.
func (r *Resolver) NamespaceExists(namespace string) bool {
	_, err := r.Store.Get("namespaces", "", namespace)
	return err == nil
}
