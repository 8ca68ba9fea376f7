package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestHTTPAndTCPProbes probes a loopback server.
func TestHTTPAndTCPProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz" && r.Header.Get("X-Check") == "yes" && strings.HasPrefix(r.UserAgent(), "kube-probe/"):
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(portStr)
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	ctx := context.Background()
	hdr := []corev1.HTTPHeader{{Name: "X-Check", Value: "yes"}}
	if ok, out := httpProbe(ctx, &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), HTTPHeaders: hdr}, c, host); !ok {
		t.Errorf("healthy probe failed: %s", out)
	}
	if ok, out := httpProbe(ctx, &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))}, c, host); ok || out != "HTTP probe failed with statuscode: 503" {
		t.Errorf("unhealthy probe: %v %q", ok, out)
	}
	if ok, _ := httpProbe(ctx, &corev1.HTTPGetAction{Path: "/nope", Port: intstr.FromString("web")}, c, host); ok {
		t.Error("unknown named port passed")
	}
	p := &prober{}
	tcp := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}
	if ok, out := p.probe(ctx, tcp, c, "id", host); !ok {
		t.Errorf("tcp probe failed: %s", out)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tcp.TCPSocket.Port = intstr.FromInt(closed)
	if ok, out := p.probe(ctx, tcp, c, "id", "127.0.0.1"); ok || !strings.Contains(out, "connection refused") {
		t.Errorf("tcp probe of a closed port: %v %q", ok, out)
	}
}
