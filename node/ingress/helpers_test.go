package ingress

import (
	"fmt"
	"io"
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
)

// fakeLookup holds the objects Ingresses refer to, keyed "ns/name".
type fakeLookup struct {
	services  map[string]*corev1.Service
	endpoints map[string]*corev1.Endpoints
	secrets   map[string]*corev1.Secret
}

func newFakeLookup() *fakeLookup {
	return &fakeLookup{services: map[string]*corev1.Service{}, endpoints: map[string]*corev1.Endpoints{}, secrets: map[string]*corev1.Secret{}}
}

func (f *fakeLookup) Service(ns, name string) *corev1.Service     { return f.services[ns+"/"+name] }
func (f *fakeLookup) Endpoints(ns, name string) *corev1.Endpoints { return f.endpoints[ns+"/"+name] }
func (f *fakeLookup) Secret(ns, name string) *corev1.Secret       { return f.secrets[ns+"/"+name] }

// addService adds Service ns/name with one port (named portName when set)
// and, when addrs are given, Endpoints with those "ip:port" addresses.
func (f *fakeLookup) addService(ns, name string, port int32, portName string, addrs ...string) {
	f.services[ns+"/"+name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: portName, Port: port}}}}
	if len(addrs) == 0 {
		return
	}
	var subsets []corev1.EndpointSubset
	for _, a := range addrs {
		host, p, _ := net.SplitHostPort(a)
		n, _ := strconv.Atoi(p)
		subsets = append(subsets, corev1.EndpointSubset{
			Addresses:         []corev1.EndpointAddress{{IP: host}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.99"}}, // never used
			Ports:             []corev1.EndpointPort{{Name: portName, Port: int32(n), Protocol: corev1.ProtocolTCP}},
		})
	}
	f.endpoints[ns+"/"+name] = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: subsets}
}

// echoBackend is a test backend that answers "name path" and records the
// headers it got.
type echoBackend struct {
	name string
	srv  *httptest.Server
	last chan http.Header
}

func newEchoBackend(t *testing.T, name string) *echoBackend {
	t.Helper()
	b := &echoBackend{name: name, last: make(chan http.Header, 100)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		b.last <- h
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *echoBackend) addr() string { return b.srv.Listener.Addr().String() }

// ingressOf builds an Ingress of class shoal from rules.
func ingressOf(ns, name string, age time.Duration, rules ...networkingv1.IngressRule) networkingv1.Ingress {
	return networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))},
		Spec:       networkingv1.IngressSpec{IngressClassName: ptr.To(ClassName), Rules: rules},
	}
}

type pathSpec struct {
	path    string
	typ     networkingv1.PathType
	service string
	port    int32
}

func rule(host string, paths ...pathSpec) networkingv1.IngressRule {
	var ps []networkingv1.HTTPIngressPath
	for _, p := range paths {
		ps = append(ps, networkingv1.HTTPIngressPath{Path: p.path, PathType: ptr.To(p.typ), Backend: serviceBackend(p.service, p.port)})
	}
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: ps}}}
}

func serviceBackend(name string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func shoalClass(isDefault bool) networkingv1.IngressClass {
	c := networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: ClassName}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName}}
	if isDefault {
		c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return c
}

// get sends one request through h with a Host header and returns the
// status and body.
func get(t *testing.T, h http.Handler, host, path string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "http://"+host+path, nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// corev1TypedRef is a resource backend, which shoal does not serve.
var corev1TypedRef = corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "StorageBucket", Name: "static-assets"}

// newTestServer is a Server with no listeners, used as a handler.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// build is Builder.Build for tests, whose backends listen on loopback.
func build(classes []networkingv1.IngressClass, ingresses []networkingv1.Ingress, lookup Lookup) (*Table, []error) {
	return (&Builder{AllowLoopback: true}).Build(classes, ingresses, lookup)
}
