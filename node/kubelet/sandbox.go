package kubelet

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/runtime"
)

// Labels the kubelet records on sandboxes and containers (CRI's names), by
// which it finds its pods again after a restart.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"
)

// podHostname is the pod's host name: spec.hostname, else its name, cut
// to 63 characters.
func podHostname(pod *corev1.Pod) string {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	return hostname
}

// maxDNSSearches is the resolv.conf limit the kubelet enforces.
const maxDNSSearches = 32

// sandboxConfig turns a pod into the runtime's sandbox description.
func sandboxConfig(pod *corev1.Pod, clusterDNS []string, domain string) runtime.SandboxConfig {
	hostname := podHostname(pod)
	cfg := runtime.SandboxConfig{
		UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
		Hostname:    hostname,
		DNS:         dnsConfig(pod, clusterDNS, domain),
		HostNetwork: pod.Spec.HostNetwork,
		Labels: map[string]string{
			labelPodUID: string(pod.UID), labelPodNamespace: pod.Namespace, labelPodName: pod.Name,
		},
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := string(p.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			cfg.PortMappings = append(cfg.PortMappings, runtime.PortMapping{
				Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP,
			})
		}
	}
	return cfg
}

// dnsConfig is the kubelet's GetPodDNS: the resolv.conf of a pod from its
// dnsPolicy and dnsConfig. nil means the node's own resolv.conf.
//
//   - ClusterFirst (and ClusterFirstWithHostNet): the cluster nameservers,
//     searches <ns>.svc.<domain> svc.<domain> <domain>, ndots:5. Without
//     cluster DNS, and for ClusterFirst pods on the host network, it falls
//     back to Default, as the kubelet does.
//   - Default: the node's resolv.conf (nil).
//   - None: only spec.dnsConfig.
//
// spec.dnsConfig is merged into the first two: nameservers and searches
// appended (deduplicated), options overriding by name.
func dnsConfig(pod *corev1.Pod, clusterDNS []string, domain string) *runtime.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(clusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	var out *runtime.DNSConfig
	switch policy {
	case corev1.DNSNone:
		out = &runtime.DNSConfig{}
	case corev1.DNSDefault:
		if pod.Spec.DNSConfig == nil {
			return nil
		}
		out = &runtime.DNSConfig{}
	default:
		out = &runtime.DNSConfig{
			Servers: append([]string(nil), clusterDNS...),
			Searches: []string{
				pod.Namespace + ".svc." + domain, "svc." + domain, domain,
			},
			Options: []string{"ndots:5"},
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		out.Servers = appendUnique(out.Servers, dc.Nameservers...)
		out.Searches = appendUnique(out.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			out.Options = setOption(out.Options, o.Name, opt)
		}
	}
	if len(out.Searches) > maxDNSSearches {
		out.Searches = out.Searches[:maxDNSSearches]
	}
	return out
}

func appendUnique(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, l := range list {
			dup = dup || l == a
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// setOption replaces the option called name (with or without ":value") or
// appends opt.
func setOption(opts []string, name, opt string) []string {
	for i, o := range opts {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}
