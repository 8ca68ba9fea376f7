package streaming_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
)

// TestPodAndServiceProxy sends requests through pods/NAME:PORT/proxy and
// services/NAME:PORT/proxy, as `kubectl proxy` relays them: to a pod on
// this node and to one on another node, keeping method, path, query and
// body.
func TestPodAndServiceProxy(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s?%s body=%s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	}))
	defer app.Close()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	port, _ := strconv.Atoi(portStr)

	nodeA := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: streamingtest.New(), Logger: testLogger(t)})
	nodeB := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: streamingtest.New(), Logger: testLogger(t)})
	srvB := httptest.NewServer(nodeB)
	defer srvB.Close()

	e := nodeAAPI(t, streaming.ProxyConfig{
		LocalHandler: nodeA, Transport: http.DefaultTransport, Logger: testLogger(t),
		NodeAddr: func(n string) (string, bool) { return srvB.URL, n == "b" },
	})
	put := func(resource, name string, obj any) { e.Seed(resource, "default", name, "uid-"+name, seedTime, obj) }
	for _, p := range []struct{ name, node string }{{"on-a", "a"}, {"on-b", "b"}} {
		put("pods", p.name, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default", Labels: map[string]string{"app": p.name}},
			Spec: corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "app", Image: "x",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}}},
			Status: corev1.PodStatus{PodIP: "127.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}
	put("services", "web", &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "on-b"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}},
	})
	api := e.Server

	cases := []struct{ method, path, body, want string }{
		{"GET", "/api/v1/namespaces/default/pods/on-a:" + portStr + "/proxy/", "", "GET /? body="},
		{"GET", "/api/v1/namespaces/default/pods/on-b:" + portStr + "/proxy/foo?x=1", "", "GET /foo?x=1 body="},
		{"POST", "/api/v1/namespaces/default/pods/on-b/proxy/post", "a=b", "POST /post? body=a=b"},
		{"GET", "/api/v1/namespaces/default/services/web:web/proxy/svc", "", "GET /svc? body="},
		{"GET", "/api/v1/namespaces/default/services/web/proxy/", "", "GET /? body="},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, api.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != tc.want {
			t.Errorf("%s %s = %d %q, want 200 %q", tc.method, tc.path, resp.StatusCode, b, tc.want)
		}
	}
	resp, err := http.Get(api.URL + "/api/v1/namespaces/default/pods/missing:80/proxy/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("proxy to a missing pod: %d, want 404", resp.StatusCode)
	}
}
