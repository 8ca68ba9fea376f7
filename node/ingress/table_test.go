package ingress

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	prefix = networkingv1.PathTypePrefix
	exact  = networkingv1.PathTypeExact
	implSp = networkingv1.PathTypeImplementationSpecific
)

// TestRouting sends requests through the proxy to real (loopback) backends:
// hosts exact and wildcard, Exact against Prefix, element-wise prefixes,
// the longest path, default backends (a host's own Ingress's, the
// catch-all's from a rule-less Ingress), no endpoints and no match.
func TestRouting(t *testing.T) {
	names := []string{"root", "v2", "foo", "foo-exact", "deep", "wild", "any", "def", "named", "shop", "shop-def", "other-def"}
	lookup := newFakeLookup()
	for _, n := range names {
		b := newEchoBackend(t, n)
		lookup.addService("default", n, 80, "", b.addr())
	}
	named := newEchoBackend(t, "named-port")
	lookup.addService("default", "named", 8080, "http", named.addr())
	lookup.addService("default", "empty", 80, "") // no endpoints

	namedRule := rule("named.example.test", pathSpec{"/", prefix, "named", 0})
	namedRule.HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http"}
	// Host-less rules and a default backend: as in ingress-nginx the default
	// backend is not the catch-all's (only a rule-less Ingress's is).
	withDefault := ingressOf("default", "static", time.Hour, rule("", pathSpec{"/static", prefix, "any", 80}))
	withDefault.Spec.DefaultBackend = ptr.To(serviceBackend("def", 80))
	lookup.addService("web", "catch", 80, "", newEchoBackend(t, "catch").addr())
	lookup.addService("web", "late-catch", 80, "", newEchoBackend(t, "late-catch").addr())
	catchAll := ingressOf("web", "catch-all", 30*time.Minute)
	catchAll.Spec.DefaultBackend = ptr.To(serviceBackend("catch", 80))
	lateCatchAll := ingressOf("web", "late-catch-all", time.Minute)
	lateCatchAll.Spec.DefaultBackend = ptr.To(serviceBackend("late-catch", 80))
	// A host's default backend is its first Ingress's; a younger Ingress of
	// the same host (another namespace even) does not change it.
	shop := ingressOf("default", "shop", 20*time.Minute, rule("shop.example.test", pathSpec{"/cart", prefix, "shop", 80}))
	shop.Spec.DefaultBackend = ptr.To(serviceBackend("shop-def", 80))
	shopLate := ingressOf("default", "shop-late", 10*time.Minute, rule("shop.example.test", pathSpec{"/pay", prefix, "shop", 80}))
	shopLate.Spec.DefaultBackend = ptr.To(serviceBackend("other-def", 80))
	otherClass := ingressOf("default", "nginx", 3*time.Hour, rule("nginx.example.test", pathSpec{"/", prefix, "root", 80}))
	otherClass.Spec.IngressClassName = ptr.To("nginx")
	ingresses := []networkingv1.Ingress{
		ingressOf("default", "app", 2*time.Hour,
			rule("app.example.test", pathSpec{"/", prefix, "root", 80}, pathSpec{"/v2", prefix, "v2", 80}),
			rule("paths.example.test",
				pathSpec{"/foo", prefix, "foo", 80}, pathSpec{"/foo", exact, "foo-exact", 80}, pathSpec{"/foo/bar/baz/", implSp, "deep", 80}),
			rule("*.wild.test", pathSpec{"/", prefix, "wild", 80}),
			rule("empty.example.test", pathSpec{"/", prefix, "empty", 80}),
			namedRule,
		),
		withDefault,
		otherClass,
		catchAll,
		lateCatchAll,
		shop,
		shopLate,
	}
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(true)}, ingresses, lookup)
	if len(errs) != 0 {
		t.Fatalf("build errors: %v", errs)
	}
	if tbl.Ingresses != 6 {
		t.Errorf("table serves %d Ingresses, want 6 (not the nginx one)", tbl.Ingresses)
	}
	srv := newTestServer(t)
	srv.Update(tbl)

	cases := []struct {
		host, path string
		code       int
		body       string
	}{
		{"app.example.test", "/", 200, "root /"},
		{"app.example.test", "/v2", 200, "v2 /v2"},
		{"app.example.test", "/v2/x", 200, "v2 /v2/x"},
		{"app.example.test", "/v2x", 200, "root /v2x"},
		{"APP.Example.Test:80", "/v2", 200, "v2 /v2"},
		{"app.example.test.", "/v2", 200, "v2 /v2"},
		{"paths.example.test", "/foo", 200, "foo-exact /foo"},   // Exact wins at equal length
		{"paths.example.test", "/foo/", 200, "foo /foo/"},       // Exact does not match a trailing slash
		{"paths.example.test", "/foo/bar", 200, "foo /foo/bar"}, // element-wise prefix
		{"paths.example.test", "/foo/bar/baz", 200, "deep /foo/bar/baz"},
		{"paths.example.test", "/foo/bar/baz/q", 200, "deep /foo/bar/baz/q"}, // longest wins
		{"paths.example.test", "/foo/bar/bazz", 200, "foo /foo/bar/bazz"},
		// No path of a host matches and its Ingress has no default backend:
		// 404, never another Ingress's default nor the host-less rules.
		{"paths.example.test", "/foobar", 404, "default backend - 404\n"},
		{"paths.example.test", "/static", 404, "default backend - 404\n"},
		{"shop.example.test", "/cart/1", 200, "shop /cart/1"},
		{"shop.example.test", "/pay", 200, "shop /pay"},
		{"shop.example.test", "/", 200, "shop-def /"}, // the host's own (first) Ingress's default
		{"a.wild.test", "/x", 200, "wild /x"},
		{"a.b.wild.test", "/static/a", 200, "any /static/a"}, // a wildcard covers one label only
		{"wild.test", "/static", 200, "any /static"},
		{"elsewhere.test", "/static/a.css", 200, "any /static/a.css"},
		{"elsewhere.test", "/", 200, "catch /"},     // the catch-all: the oldest rule-less Ingress
		{"nginx.example.test", "/", 200, "catch /"}, // another class's Ingress is not served
		{"named.example.test", "/n", 200, "named-port /n"},
		{"empty.example.test", "/", 503, "503 Service Temporarily Unavailable\n"},
	}
	for _, c := range cases {
		code, body := get(t, srv, c.host, c.path)
		if code != c.code || body != c.body {
			t.Errorf("%s%s: got %d %q, want %d %q", c.host, c.path, code, body, c.code, c.body)
		}
	}

	// Without any default backend an unmatched request is the 404 of
	// ingress-nginx's default backend.
	tbl, _ = build([]networkingv1.IngressClass{shoalClass(true)}, ingresses[:2], lookup)
	srv.Update(tbl)
	for _, c := range []struct{ host, path string }{{"paths.example.test", "/foobar"}, {"elsewhere.test", "/"}, {"", "/"}} {
		if code, body := get(t, srv, c.host, c.path); code != 404 || body != "default backend - 404\n" {
			t.Errorf("%s%s without default backend: %d %q", c.host, c.path, code, body)
		}
	}
}

// TestRoundRobinAndHeaders: the ready endpoints take turns, and each
// request carries the client's Host, X-Forwarded-For/-Proto/-Host and
// X-Real-IP.
func TestRoundRobinAndHeaders(t *testing.T) {
	a, b := newEchoBackend(t, "a"), newEchoBackend(t, "b")
	lookup := newFakeLookup()
	lookup.addService("shop", "web", 80, "http", a.addr(), b.addr())
	ing := ingressOf("shop", "web", time.Minute, rule("shop.example.test", pathSpec{"/", prefix, "web", 80}))
	tbl, errs := build([]networkingv1.IngressClass{shoalClass(false)}, []networkingv1.Ingress{ing}, lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	srv := newTestServer(t)
	srv.Update(tbl)
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		_, body := get(t, srv, "shop.example.test", "/cart")
		seen[strings.Fields(body)[0]]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Errorf("answers %v, want 3 each", seen)
	}
	// A client's own X-Real-IP is overwritten with its address, as
	// ingress-nginx does.
	for len(a.last) > 0 {
		<-a.last
	}
	for len(b.last) > 0 {
		<-b.last
	}
	req := httptest.NewRequest("GET", "http://shop.example.test/cart", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	req.Header.Set("X-Real-IP", "10.6.6.6")
	srv.ServeHTTP(httptest.NewRecorder(), req)
	var h http.Header
	select {
	case h = <-a.last:
	case h = <-b.last:
	}
	for k, want := range map[string]string{"Host": "shop.example.test", "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "shop.example.test", "X-Real-Ip": "192.0.2.7"} {
		if got := h.Get(k); got != want {
			t.Errorf("backend got %s %q, want %q", k, got, want)
		}
	}
}

// TestBuildSkipsBrokenParts: a conflicting path, a missing TLS Secret and
// a resource backend are reported and skipped; the rest is served.
func TestBuildSkipsBrokenParts(t *testing.T) {
	web := newEchoBackend(t, "web")
	lookup := newFakeLookup()
	lookup.addService("default", "web", 80, "", web.addr())
	old := ingressOf("default", "old", time.Hour, rule("app.example.test", pathSpec{"/", prefix, "web", 80}))
	young := ingressOf("default", "young", time.Minute,
		rule("app.example.test", pathSpec{"/", prefix, "other", 80}, pathSpec{"/ok", prefix, "web", 80}))
	young.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"app.example.test"}, SecretName: "missing"}}
	young.Spec.Rules[0].HTTP.Paths = append(young.Spec.Rules[0].HTTP.Paths, networkingv1.HTTPIngressPath{
		Path: "/bucket", PathType: ptr.To(prefix),
		Backend: networkingv1.IngressBackend{Resource: &corev1TypedRef}})
	noType := ingressOf("default", "no-type", 2*time.Hour, rule("nt.example.test", pathSpec{"/", prefix, "web", 80}))
	noType.Spec.Rules[0].HTTP.Paths[0].PathType = nil

	tbl, errs := build([]networkingv1.IngressClass{shoalClass(false)}, []networkingv1.Ingress{young, old, noType}, lookup)
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{
		`ingress default/young: spec.rules[0].http.paths[0]: host "app.example.test" path "/" is already served by ingress default/old`,
		"spec.rules[0].http.paths[2].backend: only Service backends are served",
		"spec.tls[0]: secret default/missing not found",
		"ingress default/no-type: spec.rules[0].http.paths[0]: pathType must be specified",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q:\n%s", want, joined)
		}
	}
	srv := newTestServer(t)
	srv.Update(tbl)
	if _, body := get(t, srv, "app.example.test", "/"); body != "web /" {
		t.Errorf("the older Ingress's path: %q", body)
	}
	if _, body := get(t, srv, "app.example.test", "/ok/1"); body != "web /ok/1" {
		t.Errorf("the younger Ingress's other path: %q", body)
	}
}

func TestServes(t *testing.T) {
	nginx := networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}
	ing := func(class *string, annotation string) *networkingv1.Ingress {
		i := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: class}}
		if annotation != "" {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": annotation}
		}
		return i
	}
	cases := []struct {
		name    string
		classes []networkingv1.IngressClass
		ing     *networkingv1.Ingress
		want    bool
	}{
		{"class shoal", []networkingv1.IngressClass{shoalClass(false)}, ing(ptr.To("shoal"), ""), true},
		{"class nginx", []networkingv1.IngressClass{shoalClass(true), nginx}, ing(ptr.To("nginx"), ""), false},
		{"unknown class", []networkingv1.IngressClass{shoalClass(true)}, ing(ptr.To("gone"), ""), false},
		{"no class, shoal default", []networkingv1.IngressClass{shoalClass(true), nginx}, ing(nil, ""), true},
		{"no class, shoal not default", []networkingv1.IngressClass{shoalClass(false)}, ing(nil, ""), false},
		{"annotation shoal", []networkingv1.IngressClass{shoalClass(false)}, ing(nil, "shoal"), true},
		{"annotation nginx", []networkingv1.IngressClass{shoalClass(true), nginx}, ing(nil, "nginx"), false},
		{"no classes at all", nil, ing(ptr.To("shoal"), ""), false},
	}
	for _, c := range cases {
		if got := Serves(c.classes, c.ing); got != c.want {
			t.Errorf("%s: Serves = %v, want %v", c.name, got, c.want)
		}
	}
}
