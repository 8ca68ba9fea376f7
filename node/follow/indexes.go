package follow

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The indexes the parts of a node share. An index name means one function
// in a node: add them with these names and functions, e.g.
// f.AddIndex(IndexPodsByNode, PodsByNode).
const (
	IndexByNamespace     = "namespace"
	IndexByOwnerUID      = "owner-uid"
	IndexPodsByNode      = "spec.nodeName"
	IndexPodsByIP        = "status.podIPs"
	IndexServicesByIP    = "spec.clusterIPs"
	IndexSlicesByService = "kubernetes.io/service-name"
)

// metaObject is a pointer to a Kubernetes object type.
type metaObject[T any] interface {
	*T
	metav1.Object
}

// ByNamespace indexes an object by its namespace.
func ByNamespace[T any, P metaObject[T]](obj *T) []string {
	return []string{P(obj).GetNamespace()}
}

// ByOwnerUID indexes an object by the UIDs of its owners.
func ByOwnerUID[T any, P metaObject[T]](obj *T) []string {
	refs := P(obj).GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = string(r.UID)
	}
	return out
}

// PodsByNode indexes a pod by the node it is bound to ("" when unbound).
func PodsByNode(p *corev1.Pod) []string { return []string{p.Spec.NodeName} }

// PodsByIP indexes a pod by its IPs (none before the kubelet reports them).
func PodsByIP(p *corev1.Pod) []string {
	if len(p.Status.PodIPs) == 0 {
		if p.Status.PodIP == "" {
			return nil
		}
		return []string{p.Status.PodIP}
	}
	out := make([]string, len(p.Status.PodIPs))
	for i, ip := range p.Status.PodIPs {
		out[i] = ip.IP
	}
	return out
}

// ServicesByIP indexes a Service by its cluster IPs ("None" excluded).
func ServicesByIP(s *corev1.Service) []string {
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	var out []string
	for _, ip := range ips {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, ip)
		}
	}
	return out
}

// SlicesByService indexes an EndpointSlice by "namespace/service" from its
// kubernetes.io/service-name label.
func SlicesByService(s *discoveryv1.EndpointSlice) []string {
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	return []string{Key(s.Namespace, name)}
}
