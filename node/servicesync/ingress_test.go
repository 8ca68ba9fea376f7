package servicesync

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/ingress"
)

// TestIngressFollowsStore: the proxy's table follows the store; an
// Ingress added while Run runs is served within the debounce, and a
// Service's endpoints come from its Endpoints object.
func TestIngressFollowsStore(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "web "+r.URL.Path)
	}))
	defer backend.Close()
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	pn, _ := strconv.Atoi(port)

	st := consensus.NewStore()
	p := consensus.NewLocalProposer(st)
	put(t, p, "namespaces", "", "default", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	put(t, p, resIngressClasses, "", "shoal", &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "shoal",
		Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}})
	put(t, p, "services", "default", "web", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
	put(t, p, "endpoints", "default", "web", &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: host}}, Ports: []corev1.EndpointPort{{Port: int32(pn)}}}}})

	srv, err := ingress.NewServer(ingress.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Ingress{Cache: runCache(t, st), Server: srv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Debounce: 10 * time.Millisecond, Resync: time.Hour,
		Builder: &ingress.Builder{AllowLoopback: true}} // the test backend listens on loopback
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	ask := func() (int, string) {
		req := httptest.NewRequest("GET", "http://app.example.test/hello", nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b)
	}
	if code, _ := ask(); code != http.StatusNotFound {
		t.Fatalf("before any Ingress: %d, want 404", code)
	}
	// No class: the default class (shoal's) applies.
	put(t, p, resIngresses, "default", "app", &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "app.example.test", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}},
		}}}}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := ask()
		if code == 200 && body == "web /hello" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after adding the Ingress: %d %q, want 200 \"web /hello\"", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its Service's endpoints gone: 503 rather than a dead address.
	if _, err := p.Propose(context.Background(), &consensus.Command{Op: consensus.OpDelete, Resource: "endpoints", Namespace: "default", Name: "web", Time: "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	waitCode(t, ask, http.StatusServiceUnavailable)
	// The Ingress gone: 404 again.
	if _, err := p.Propose(context.Background(), &consensus.Command{Op: consensus.OpDelete, Resource: resIngresses, Namespace: "default", Name: "app", Time: "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	waitCode(t, ask, http.StatusNotFound)
}

// waitCode polls ask until it answers code, for up to 5s.
func waitCode(t *testing.T, ask func() (int, string), code int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, body := ask()
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %q, want %d", got, body, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
