package registry

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func svcBackend(name string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: name, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func ingressPath(path string, typ networkingv1.PathType, b networkingv1.IngressBackend) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: path, PathType: ptr.To(typ), Backend: b}
}

// ingress is app.example.test: / -> web:80, /v2 -> web-v2:80, with TLS.
func ingress(mod func(*networkingv1.Ingress)) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: meta("app"),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("shoal"),
			Rules: []networkingv1.IngressRule{{
				Host: "app.example.test",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					ingressPath("/", networkingv1.PathTypePrefix, svcBackend("web", 80)),
					ingressPath("/v2", networkingv1.PathTypeExact, svcBackend("web-v2", 80)),
				}}},
			}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"app.example.test"}, SecretName: "app-tls"}},
		},
	}
	if mod != nil {
		mod(ing)
	}
	return ing
}

func ingressClass(mod func(*networkingv1.IngressClass)) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "shoal", ResourceVersion: "3", UID: "u-2"},
		Spec:       networkingv1.IngressClassSpec{Controller: "shoal.io/ingress"},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func firstPath(ing *networkingv1.Ingress) *networkingv1.HTTPIngressPath {
	return &ing.Spec.Rules[0].HTTP.Paths[0]
}

func TestValidIngresses(t *testing.T) {
	objs := map[string]runtime.Object{
		"rules and TLS": ingress(nil),
		"default backend only": ingress(func(i *networkingv1.Ingress) {
			i.Spec = networkingv1.IngressSpec{DefaultBackend: ptr.To(svcBackend("web", 8080))}
		}),
		"wildcard host": ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.test" }),
		"no host":       ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "" }),
		"named service port": ingress(func(i *networkingv1.Ingress) {
			firstPath(i).Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http"}
		}),
		"implementation path": ingress(func(i *networkingv1.Ingress) {
			*firstPath(i) = ingressPath("", networkingv1.PathTypeImplementationSpecific, svcBackend("web", 80))
		}),
		"resource backend": ingress(func(i *networkingv1.Ingress) {
			firstPath(i).Backend = networkingv1.IngressBackend{Resource: &corev1TypedRef}
		}),
		"TLS without secret": ingress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].SecretName = "" }),
		"TLS wildcard host":  ingress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts = []string{"*.example.test"} }),
		"class":              ingressClass(nil),
		"class with parameters": ingressClass(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"}
		}),
	}
	for name, obj := range objs {
		if errs := validateCreate(t, obj); len(errs) != 0 {
			t.Errorf("%s: unexpected errors: %v", name, errs)
		}
	}
}

// corev1TypedRef is a resource backend, as in the Kubernetes docs.
var corev1TypedRef = corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "StorageBucket", Name: "static-assets"}

func TestIngressValidationErrors(t *testing.T) {
	cases := []errCase{
		{"no rules and no default backend", ingress(func(i *networkingv1.Ingress) { i.Spec = networkingv1.IngressSpec{} }),
			"spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"},
		{"pathType required", ingress(func(i *networkingv1.Ingress) { firstPath(i).PathType = nil }),
			"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"},
		{"pathType unsupported", ingress(func(i *networkingv1.Ingress) { firstPath(i).PathType = ptr.To(networkingv1.PathType("Regex")) }),
			`spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"`},
		{"prefix path not absolute", ingress(func(i *networkingv1.Ingress) { firstPath(i).Path = "foo" }),
			`spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path`},
		{"exact path empty", ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[1].Path = "" }),
			`spec.rules[0].http.paths[1].path: Invalid value: "": must be an absolute path`},
		{"implementation-specific path not absolute", ingress(func(i *networkingv1.Ingress) {
			*firstPath(i) = ingressPath("foo", networkingv1.PathTypeImplementationSpecific, svcBackend("web", 80))
		}), `spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path`},
		{"path with //", ingress(func(i *networkingv1.Ingress) { firstPath(i).Path = "/a//b" }),
			`spec.rules[0].http.paths[0].path: Invalid value: "/a//b": must not contain '//'`},
		{"path ending /..", ingress(func(i *networkingv1.Ingress) { firstPath(i).Path = "/a/.." }),
			`spec.rules[0].http.paths[0].path: Invalid value: "/a/..": cannot end with '/..'`},
		{"no paths", ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }),
			"spec.rules[0].http.paths: Required value"},
		{"host is an IP", ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }),
			`spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address`},
		{"host uppercase", ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "App.example.test" }),
			`spec.rules[0].host: Invalid value: "App.example.test": a lowercase RFC 1123 subdomain must consist of...`},
		{"wildcard in the middle", ingress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "app.*.test" }),
			`spec.rules[0].host: Invalid value: "app.*.test": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain...`},
		{"both backends", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Resource = &corev1TypedRef }),
			`spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both resource and service backends`},
		{"no backend", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend = networkingv1.IngressBackend{} }),
			`spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required`},
		{"no service port", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Port = networkingv1.ServiceBackendPort{} }),
			"spec.rules[0].http.paths[0].backend: Required value: port name or number is required"},
		{"port name and number", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Port.Name = "http" }),
			`spec.rules[0].http.paths[0].backend: Invalid value: "": cannot set both port name & port number`},
		{"port number out of range", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Port.Number = 70000 }),
			"spec.rules[0].http.paths[0].backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive"},
		{"bad port name", ingress(func(i *networkingv1.Ingress) {
			firstPath(i).Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "HTTP_port"}
		}), `spec.rules[0].http.paths[0].backend.service.port.name: Invalid value: "HTTP_port": ...`},
		{"service name missing", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Name = "" }),
			"spec.rules[0].http.paths[0].backend.service.name: Required value"},
		{"service name not DNS-1035", ingress(func(i *networkingv1.Ingress) { firstPath(i).Backend.Service.Name = "1web" }),
			`spec.rules[0].http.paths[0].backend.service.name: Invalid value: "1web": a DNS-1035 label must consist of...`},
		{"default backend port", ingress(func(i *networkingv1.Ingress) {
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}
		}), "spec.defaultBackend: Required value: port name or number is required"},
		{"TLS host", ingress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts = []string{"bad_host"} }),
			`spec.tls[0].hosts[0]: Invalid value: "bad_host": a lowercase RFC 1123 subdomain must consist of...`},
		{"TLS wildcard host", ingress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts = []string{"*"} }),
			`spec.tls[0].hosts[0]: Invalid value: "*": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain...`},
		{"TLS secret name", ingress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].SecretName = "App_TLS" }),
			`spec.tls[0].secretName: Invalid value: "App_TLS": a lowercase RFC 1123 subdomain must consist of...`},
		{"class name", ingress(func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("Shoal") }),
			`spec.ingressClassName: Invalid value: "Shoal": a lowercase RFC 1123 subdomain must consist of...`},
		{"class annotation differs", ingress(func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{AnnotationIngressClass: "nginx"}
		}), `annotations.kubernetes.io/ingress.class: Invalid value: "nginx": must match ` + "`ingressClassName`" + ` when both are specified`},
		{"ingress name", ingress(func(i *networkingv1.Ingress) { i.Name = "App" }),
			`metadata.name: Invalid value: "App": a lowercase RFC 1123 subdomain must consist of...`},
		{"class controller required", ingressClass(func(c *networkingv1.IngressClass) { c.Spec.Controller = "" }),
			"spec.controller: Required value"},
		{"class controller not domain-prefixed", ingressClass(func(c *networkingv1.IngressClass) { c.Spec.Controller = "shoal" }),
			`spec.controller: Invalid value: "shoal": must be a domain-prefixed path (such as "acme.io/foo")`},
		{"class parameters kind", ingressClass(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Name: "p"}
		}), "spec.parameters.kind: Required value"},
		{"class parameters namespace", ingressClass(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "K", Name: "p", Scope: ptr.To("Namespace")}
		}), "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"},
		{"class parameters cluster with namespace", ingressClass(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "K", Name: "p", Namespace: ptr.To("default")}
		}), "spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"},
		{"class namespaced", ingressClass(func(c *networkingv1.IngressClass) { c.Namespace = "default" }),
			"metadata.namespace: Forbidden: not allowed on this type"},
	}
	for _, c := range cases {
		checkErrs(t, c.name, validateCreate(t, c.obj), c.want)
	}
}

func TestIngressUpdates(t *testing.T) {
	cases := []struct {
		name   string
		old    runtime.Object
		mutate func(runtime.Object)
		want   string // "" means valid
	}{
		{"add a path", ingress(nil), func(o runtime.Object) {
			r := &o.(*networkingv1.Ingress).Spec.Rules[0]
			r.HTTP.Paths = append(r.HTTP.Paths, ingressPath("/v3", networkingv1.PathTypePrefix, svcBackend("web-v3", 80)))
		}, ""},
		// The main resource keeps the stored status: its status is not
		// checked, so a bad one can never block a spec or label change.
		{"status ignored", ingress(nil), func(o runtime.Object) {
			o.(*networkingv1.Ingress).Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "not-an-ip"}}
			o.(*networkingv1.Ingress).Labels = map[string]string{"tier": "web"}
		}, ""},
		{"class controller immutable", ingressClass(nil), func(o runtime.Object) {
			o.(*networkingv1.IngressClass).Spec.Controller = "example.com/other"
		}, `spec.controller: Invalid value: "example.com/other": field is immutable`},
	}
	for _, c := range cases {
		errs := validateUpdate(t, c.old, c.mutate)
		if c.want == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected errors: %v", c.name, errs)
			}
			continue
		}
		checkErrs(t, c.name, errs, c.want)
	}
}

func TestIngressStrategy(t *testing.T) {
	k := kindOf(t, ingress(nil))
	ing := ingress(func(i *networkingv1.Ingress) {
		i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.1"}}
	})
	k.Default(ing)
	k.PrepareForCreate(ing)
	if ing.Generation != 1 || len(ing.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("after create: generation %d, status %+v; want 1 and no status", ing.Generation, ing.Status)
	}
	same := ing.DeepCopy()
	k.PrepareForUpdate(same, ing)
	if same.Generation != 1 {
		t.Errorf("unchanged spec: generation %d, want 1", same.Generation)
	}
	changed := ing.DeepCopy()
	changed.Spec.Rules[0].Host = "other.example.test"
	k.PrepareForUpdate(changed, ing)
	if changed.Generation != 2 {
		t.Errorf("changed spec: generation %d, want 2", changed.Generation)
	}

	// IngressClass parameters default to cluster scope.
	c := ingressClass(func(c *networkingv1.IngressClass) {
		c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "K", Name: "p"}
	})
	kindOf(t, c).Default(c)
	if s := c.Spec.Parameters.Scope; s == nil || *s != "Cluster" {
		t.Errorf("parameters scope %v, want Cluster", s)
	}
	// An Ingress has no defaults: pathType stays unset (and is required).
	bare := ingress(func(i *networkingv1.Ingress) { firstPath(i).PathType = nil })
	k.Default(bare)
	if firstPath(bare).PathType != nil {
		t.Error("pathType was defaulted")
	}
}

func TestIngressRows(t *testing.T) {
	addr := func(ips ...string) networkingv1.IngressLoadBalancerStatus {
		var s networkingv1.IngressLoadBalancerStatus
		for _, ip := range ips {
			s.Ingress = append(s.Ingress, networkingv1.IngressLoadBalancerIngress{IP: ip})
		}
		return s
	}
	rule := func(host string) networkingv1.IngressRule { return networkingv1.IngressRule{Host: host} }
	cases := []struct {
		name string
		obj  runtime.Object
		want []interface{}
	}{
		{"class, host, TLS, two nodes", ingress(func(i *networkingv1.Ingress) {
			i.CreationTimestamp = ago(3 * time.Minute)
			i.Status.LoadBalancer = addr("192.168.7.12", "192.168.7.11", "192.168.7.12")
		}), []interface{}{"app", "shoal", "app.example.test", "192.168.7.11,192.168.7.12", "80, 443", "3m"}},
		{"no class, no host, no TLS, no address", ingress(func(i *networkingv1.Ingress) {
			i.CreationTimestamp = ago(time.Hour)
			i.Spec.IngressClassName = nil
			i.Spec.Rules[0].Host = ""
			i.Spec.TLS = nil
		}), []interface{}{"app", "<none>", "*", "", "80", "60m"}},
		{"more than three hosts", ingress(func(i *networkingv1.Ingress) {
			i.CreationTimestamp = ago(time.Second)
			i.Spec.Rules = []networkingv1.IngressRule{rule("a.example.test"), rule(""), rule("b.example.test"), rule("c.example.test"), rule("d.example.test")}
		}), []interface{}{"app", "shoal", "a.example.test,b.example.test,c.example.test + 2 more...", "", "80, 443", "1s"}},
		{"class without parameters", ingressClass(func(c *networkingv1.IngressClass) { c.CreationTimestamp = ago(2 * time.Hour) }),
			[]interface{}{"shoal", "shoal.io/ingress", "<none>", "120m"}},
		{"class with parameters", ingressClass(func(c *networkingv1.IngressClass) {
			c.CreationTimestamp = ago(2 * time.Hour)
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"}
		}), []interface{}{"shoal", "shoal.io/ingress", "IngressParameters.k8s.example.com/external-lb", "120m"}},
	}
	for _, c := range cases {
		if got := row(t, c.obj); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestIngressDiscovery(t *testing.T) {
	ing, ok := Lookup("networking.k8s.io", "v1", "ingresses")
	if !ok || !ing.Namespaced || !reflect.DeepEqual(ing.ShortNames, []string{"ing"}) || !ing.HasStatus || ing.GroupResource().String() != "ingresses.networking.k8s.io" {
		t.Fatalf("ingresses: %+v", ing)
	}
	if len(ing.Subresources) != 1 || ing.Subresources[0].Name != "status" {
		t.Errorf("ingresses subresources %+v, want status", ing.Subresources)
	}
	cls, ok := Lookup("networking.k8s.io", "v1", "ingressclasses")
	if !ok || cls.Namespaced || cls.HasStatus || !strings.EqualFold(cls.Kind, "IngressClass") {
		t.Fatalf("ingressclasses: %+v", cls)
	}
}
