package servicesync

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestIngressPortClashWarnedOnce: a LoadBalancer Service on one of the
// node's Ingress ports is logged once per Service and port, however often
// the proxy syncs, and again only if it comes back after going away.
func TestIngressPortClashWarnedOnce(t *testing.T) {
	var buf bytes.Buffer
	p := &Proxy{Logger: slog.New(slog.NewTextHandler(&buf, nil)), IngressPorts: []int{80, 443}}
	svc := func(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{Type: typ}}
		for _, port := range ports {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: port, Protocol: corev1.ProtocolTCP})
		}
		return s
	}
	pass := func(svcs ...*corev1.Service) int {
		t.Helper()
		buf.Reset()
		clashes := map[string]bool{}
		for _, s := range svcs {
			p.checkIngressPorts(s, clashes)
		}
		p.warned = clashes
		return strings.Count(buf.String(), "takes an Ingress port")
	}
	web := svc("web", corev1.ServiceTypeLoadBalancer, 80, 8080)
	cluster := svc("internal", corev1.ServiceTypeClusterIP, 80)
	tls := svc("tls", corev1.ServiceTypeLoadBalancer, 443)
	for i, c := range []struct {
		svcs []*corev1.Service
		want int
	}{
		{[]*corev1.Service{web, cluster}, 1},      // web:80; a ClusterIP Service takes no node port
		{[]*corev1.Service{web, cluster}, 0},      // already warned
		{[]*corev1.Service{web, cluster, tls}, 1}, // tls:443 is new
		{[]*corev1.Service{cluster}, 0},           // both gone
		{[]*corev1.Service{web}, 1},               // back again
	} {
		if got := pass(c.svcs...); got != c.want {
			t.Errorf("pass %d: %d warnings, want %d:\n%s", i, got, c.want, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "service=default/web port=80") {
		t.Errorf("warning lacks the Service and port: %s", buf.String())
	}
	p.IngressPorts = nil // Ingress disabled on this node
	if got := pass(svc("other", corev1.ServiceTypeLoadBalancer, 80)); got != 0 {
		t.Errorf("with Ingress disabled: %d warnings, want none", got)
	}
}
