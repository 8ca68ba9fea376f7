package ingress

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeLocalEndpointsSkipped: whatever an Endpoints object holds, the
// proxy is never sent to the node's own loopback, link-local (metadata
// service), unspecified or multicast addresses.
func TestNodeLocalEndpointsSkipped(t *testing.T) {
	lookup := newFakeLookup()
	lookup.addService("default", "web", 80, "",
		"127.0.0.1:8080", "169.254.169.254:80", "[fe80::1]:80", "0.0.0.0:80", "224.0.0.1:80", "[::1]:80", "192.0.2.10:8080", "[2001:db8::7]:8080")
	lookup.addService("default", "local", 80, "", "127.0.0.1:8080", "169.254.169.254:80")
	ing := ingressOf("default", "app", time.Minute,
		rule("app.example.test", pathSpec{"/", prefix, "web", 80}), rule("local.example.test", pathSpec{"/", prefix, "local", 80}))
	tbl, errs := (&Builder{}).Build([]networkingv1.IngressClass{shoalClass(true)}, []networkingv1.Ingress{ing}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	web := tbl.match("app.example.test", "/")
	if want := []string{"192.0.2.10:8080", "[2001:db8::7]:8080"}; web == nil || !slices.Equal(web.addrs, want) {
		t.Fatalf("web backend addresses %v, want only %v", web, want)
	}
	local := tbl.match("local.example.test", "/")
	if local == nil || len(local.addrs) != 0 || !strings.Contains(local.why, "node-local addresses [127.0.0.1 169.254.169.254]") {
		t.Fatalf("local backend %+v, want no address and why naming the skipped ones", local)
	}
	srv := newTestServer(t)
	srv.Update(tbl)
	if code, _ := get(t, srv, "local.example.test", "/"); code != 503 {
		t.Errorf("only node-local endpoints: %d, want 503", code)
	}
}

// TestCertificatesParsedOnce: a Builder parses a Secret version once; the
// next Build (for an Endpoints change, say) reuses the key pair, and a new
// resourceVersion is parsed anew.
func TestCertificatesParsedOnce(t *testing.T) {
	lookup := newFakeLookup()
	lookup.addService("default", "web", 80, "", net.JoinHostPort("192.0.2.10", "80"))
	sec := tlsSecret(t, "default", "app-tls", "app.example.test", "app.example.test")
	sec.UID, sec.ResourceVersion = "u-1", "5"
	lookup.secrets["default/app-tls"] = sec
	ing := ingressOf("default", "app", time.Minute, rule("app.example.test", pathSpec{"/", prefix, "web", 80}))
	ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "app-tls"}}
	classes := []networkingv1.IngressClass{shoalClass(true)}
	b := &Builder{}
	cert := func() *[][]byte {
		t.Helper()
		tbl, errs := b.Build(classes, []networkingv1.Ingress{ing}, lookup)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		c := tbl.certificate("app.example.test")
		if c == nil {
			t.Fatal("no certificate for app.example.test")
		}
		return &c.Certificate
	}
	first := cert()
	lookup.endpoints["default/web"].Subsets[0].Addresses = []corev1.EndpointAddress{{IP: "192.0.2.11"}}
	if again := cert(); again != first {
		t.Error("an unrelated rebuild parsed the Secret again")
	}
	renewed := tlsSecret(t, "default", "app-tls", "app.example.test", "app.example.test")
	renewed.ObjectMeta = metav1.ObjectMeta{Namespace: "default", Name: "app-tls", UID: "u-1", ResourceVersion: "9"}
	lookup.secrets["default/app-tls"] = renewed
	if next := cert(); next == first {
		t.Error("a new resourceVersion of the Secret was not parsed")
	}
}
