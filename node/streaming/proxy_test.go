package streaming_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
)

// cluster is an API server on node "a" whose pods/log and pods/exec go
// through a Proxy, plus node "b" reached over HTTP.
type cluster struct {
	api        *httptest.Server
	cs         kubernetes.Interface
	cfg        *rest.Config
	rtA, rtB   *streamingtest.Runtime
	nodeBCalls atomic.Int32
}

// seedTime is when the streaming tests' pods were created.
var seedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// nodeAAPI is apitest's API server (serving every request, token or not)
// on node "a", whose pods' subresources go through a streaming.Proxy made
// from px (Store and Local filled in).
func nodeAAPI(t *testing.T, px streaming.ProxyConfig) *apitest.Env {
	t.Helper()
	return apitest.New(t, apitest.WithoutAuth(), apitest.WithAPI(func(c *apiserver.Config) {
		px.Store, px.Local = c.Store, "a"
		c.Logger = testLogger(t)
		c.Subresources = streaming.NewProxy(px).Handlers()
	}))
}

func putPod(e *apitest.Env, name, node string, containers ...string) {
	e.TB.Helper()
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}}},
	}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	e.Seed("pods", "default", name, "uid-"+name, seedTime, &pod)
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{rtA: streamingtest.New(), rtB: streamingtest.New()}
	c.rtA.AddContainer("a-local", "local line")
	c.rtA.AddContainer("a-multi-b", "multi b line")
	c.rtB.AddContainer("b-web", "one", "two", "three")
	locA := locator{"default/local/app": "a-local", "default/multi/b": "a-multi-b"}
	locB := locator{"default/web/app": "b-web"}
	nodeA := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: c.rtA, Locate: locA.locate, Logger: testLogger(t)})
	nodeB := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: c.rtB, Locate: locB.locate, Logger: testLogger(t)})
	// Node B speaks TLS with HTTP/2 on offer, as a real node's API does,
	// and the node transport would take it: upgrades must still work.
	srvB := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.nodeBCalls.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the client's credentials reached the node: %q", r.Header.Get("Authorization"))
		}
		nodeB.ServeHTTP(w, r)
	}))
	srvB.EnableHTTP2 = true
	srvB.StartTLS()
	nodeTransport := srvB.Client().Transport.(*http.Transport).Clone()
	nodeTransport.ForceAttemptHTTP2 = true
	t.Cleanup(func() {
		srvB.CloseClientConnections()
		srvB.Close()
	})

	e := nodeAAPI(t, streaming.ProxyConfig{
		NodeAddr: func(node string) (string, bool) {
			if node == "b" {
				return srvB.URL, true
			}
			return "", false
		},
		LocalHandler: nodeA,
		Transport:    nodeTransport,
		Logger:       testLogger(t),
	})
	putPod(e, "local", "a", "app")
	putPod(e, "multi", "a", "a", "b")
	putPod(e, "web", "b", "app")
	putPod(e, "pending", "", "app")
	putPod(e, "lost", "c", "app")
	c.api, c.cfg, c.cs = e.Server, e.Rest, e.CS
	return c
}

func (c *cluster) logs(pod string, opts *corev1.PodLogOptions) (string, error) {
	rc, err := c.cs.CoreV1().Pods("default").GetLogs(pod, opts).Stream(context.Background())
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func (c *cluster) execURL(pod string, opts *corev1.PodExecOptions) *url.URL {
	return c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).
		SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
}

func TestProxyLogs(t *testing.T) {
	c := newCluster(t)
	tail := int64(2)
	for _, tc := range []struct {
		pod  string
		opts corev1.PodLogOptions
		want string
	}{
		{"web", corev1.PodLogOptions{}, "one\ntwo\nthree\n"}, // remote, container defaulted
		{"web", corev1.PodLogOptions{Container: "app", TailLines: &tail}, "two\nthree\n"},
		{"local", corev1.PodLogOptions{}, "local line\n"},
		{"multi", corev1.PodLogOptions{Container: "b"}, "multi b line\n"},
	} {
		got, err := c.logs(tc.pod, &tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("logs %s %+v: %q, %v; want %q", tc.pod, tc.opts, got, err, tc.want)
		}
	}
	if c.nodeBCalls.Load() != 2 {
		t.Errorf("node b served %d requests, want 2", c.nodeBCalls.Load())
	}
}

func TestProxyLogsFollowRemote(t *testing.T) {
	c := newCluster(t)
	tail := int64(0)
	rc, err := c.cs.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Follow: true, TailLines: &tail}).Stream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The response headers come before the runtime starts following: wait
	// for it, or "four" would count as an old line and be skipped.
	for deadline := time.Now().Add(5 * time.Second); c.rtB.Followers("b-web") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the runtime never started following the log")
		}
		time.Sleep(5 * time.Millisecond)
	}
	br := bufio.NewReader(rc)
	for _, line := range []string{"four", "five"} {
		c.rtB.Append("b-web", line)
		got, err := br.ReadString('\n')
		if err != nil || got != line+"\n" {
			t.Fatalf("read %q, %v; want %q", got, err, line)
		}
	}
	c.rtB.Exit("b-web")
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after exit: %q, %v", rest, err)
	}
}

func TestProxyErrors(t *testing.T) {
	c := newCluster(t)
	for _, tc := range []struct {
		pod, container string
		code           int32
		msg            string
	}{
		{"nope", "", 404, `pods "nope" not found`},
		{"multi", "", 400, "a container name must be specified for pod multi, choose one of: [a b] or one of the init containers: [init]"},
		{"web", "sidecar", 400, "container sidecar is not valid for pod web"},
		{"pending", "", 400, "pod pending does not have a host assigned"},
		{"lost", "", 503, `node "c" of pod lost is not reachable`},
	} {
		_, err := c.logs(tc.pod, &corev1.PodLogOptions{Container: tc.container})
		st, ok := err.(apierrors.APIStatus)
		if !ok || st.Status().Code != tc.code || st.Status().Message != tc.msg {
			t.Errorf("logs %s -c %q: %v, want %d %q", tc.pod, tc.container, err, tc.code, tc.msg)
		}
		// exec checks the same, before any upgrade.
		ex, _ := remotecommand.NewWebSocketExecutor(c.cfg, "GET", c.execURL(tc.pod, &corev1.PodExecOptions{Container: tc.container, Command: []string{"ls"}, Stdout: true}).String())
		err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("exec %s -c %q: %v, want %q", tc.pod, tc.container, err, tc.msg)
		}
	}
	resp, err := http.Post(c.api.URL+"/api/v1/namespaces/default/pods/web/attach?stdout=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "attach is not supported") {
		t.Errorf("attach: %d %s", resp.StatusCode, body)
	}
}

func TestProxyExec(t *testing.T) {
	c := newCluster(t)
	for _, tc := range []struct{ name, pod, transport string }{
		{"remote websocket", "web", "websocket"},
		{"remote spdy", "web", "spdy"},
		{"local websocket", "local", "websocket"},
		{"local spdy", "local", "spdy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := c.execURL(tc.pod, &corev1.PodExecOptions{Command: []string{"cat", "exit=5"}, Stdin: true, Stdout: true, Stderr: true})
			var ex remotecommand.Executor
			var err error
			if tc.transport == "spdy" {
				ex, err = remotecommand.NewSPDYExecutor(c.cfg, "POST", u)
			} else {
				ex, err = remotecommand.NewWebSocketExecutor(c.cfg, "GET", u.String())
			}
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
				Stdin: strings.NewReader("via proxy\n"), Stdout: &stdout, Stderr: &stderr,
			})
			if got := exitCode(t, err); got != 5 {
				t.Errorf("exit code %d, want 5", got)
			}
			if stdout.String() != "ran: cat exit=5\nvia proxy\n" || stderr.String() != "err: cat exit=5\n" {
				t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
	if c.nodeBCalls.Load() != 2 {
		t.Errorf("node b served %d requests, want 2", c.nodeBCalls.Load())
	}
}
