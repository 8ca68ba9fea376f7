package kubelet

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/runtime"
)

func TestDNSConfig(t *testing.T) {
	cluster := []string{"10.43.0.10"}
	searches := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	extra := &corev1.PodDNSConfig{
		Nameservers: []string{"1.1.1.1"},
		Searches:    []string{"example.com", "svc.cluster.local"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}},
	}
	for _, tc := range []struct {
		name       string
		policy     corev1.DNSPolicy
		hostNet    bool
		cfg        *corev1.PodDNSConfig
		clusterDNS []string
		want       *runtime.DNSConfig
	}{
		{name: "ClusterFirst", policy: corev1.DNSClusterFirst, clusterDNS: cluster,
			want: &runtime.DNSConfig{Servers: cluster, Searches: searches, Options: []string{"ndots:5"}}},
		{name: "empty policy is ClusterFirst", clusterDNS: cluster,
			want: &runtime.DNSConfig{Servers: cluster, Searches: searches, Options: []string{"ndots:5"}}},
		{name: "ClusterFirst without cluster DNS is Default", policy: corev1.DNSClusterFirst},
		{name: "ClusterFirst on the host network is Default", policy: corev1.DNSClusterFirst, hostNet: true, clusterDNS: cluster},
		{name: "ClusterFirstWithHostNet", policy: corev1.DNSClusterFirstWithHostNet, hostNet: true, clusterDNS: cluster,
			want: &runtime.DNSConfig{Servers: cluster, Searches: searches, Options: []string{"ndots:5"}}},
		{name: "Default", policy: corev1.DNSDefault, clusterDNS: cluster},
		{name: "None", policy: corev1.DNSNone, clusterDNS: cluster, cfg: extra,
			want: &runtime.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{"example.com", "svc.cluster.local"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "ClusterFirst merges dnsConfig", policy: corev1.DNSClusterFirst, clusterDNS: cluster, cfg: extra,
			want: &runtime.DNSConfig{Servers: []string{"10.43.0.10", "1.1.1.1"},
				Searches: append(append([]string{}, searches...), "example.com"), Options: []string{"ndots:2", "edns0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"},
				Spec: corev1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.hostNet, DNSConfig: tc.cfg}}
			got := dnsConfig(pod, tc.clusterDNS, "cluster.local")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSandboxConfig(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP},
		}}}},
	}
	cfg := sandboxConfig(pod, nil, "cluster.local")
	if cfg.Hostname != "web-1" || cfg.UID != "u1" || cfg.Labels[labelPodUID] != "u1" || cfg.Labels[labelPodName] != "web-1" || cfg.Labels[labelPodNamespace] != "default" {
		t.Errorf("sandbox config %+v", cfg)
	}
	if len(cfg.PortMappings) != 1 || cfg.PortMappings[0] != (runtime.PortMapping{Protocol: "TCP", ContainerPort: 80, HostPort: 8080}) {
		t.Errorf("port mappings %+v", cfg.PortMappings)
	}
	pod.Spec.Hostname = "custom"
	if got := sandboxConfig(pod, nil, "cluster.local").Hostname; got != "custom" {
		t.Errorf("hostname %q, want spec.hostname", got)
	}
}
