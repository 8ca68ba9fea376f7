package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
)

// lockedBuffer is a bytes.Buffer safe for a command running in another
// goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// portForwardAPI is an API server on node "a" whose pods/portforward goes
// through streaming's proxy and node server; pod web (port "http", on
// 127.0.0.1 where an HTTP app listens) runs, pending does not.
func portForwardAPI(t *testing.T) (apiURL, appPort string) {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	_, appPort, _ = net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	var port int32
	fmt.Sscan(appPort, &port)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: streamingtest.New(), Logger: logger})
	e := nodeAAPI(t, node)
	for _, p := range []struct {
		name  string
		phase corev1.PodPhase
	}{{"web", corev1.PodRunning}, {"pending", corev1.PodPending}} {
		e.Seed("pods", "default", p.name, "uid-"+p.name, seedTime, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "a", Containers: []corev1.Container{{Name: "app", Image: "x",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}}},
			Status: corev1.PodStatus{Phase: p.phase, PodIP: "127.0.0.1"},
		})
	}
	return e.Server.URL, appPort
}

// TestPortForwardCommand runs `shoal port-forward pod/web :http` until
// cancelled and sends two requests through the forwarded port.
func TestPortForwardCommand(t *testing.T) {
	isolateKubeconfig(t)
	api, appPort := portForwardAPI(t)
	var stdout, stderr lockedBuffer
	app := NewApp(Deps{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, RunAgent: nil})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		result <- app.Run(ctx, []string{"shoal", "port-forward", "pod/web", ":http", "--address", "127.0.0.1", "--server", api, "--data-dir", t.TempDir()})
	}()

	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)
	var local string
	for deadline := time.Now().Add(10 * time.Second); local == ""; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			if m[2] != appPort {
				t.Fatalf("forwarding to %s, want the pod's port http (%s)", m[2], appPort)
			}
			local = m[1]
		}
		select {
		case err := <-result:
			t.Fatalf("port-forward ended: %v; stderr %q", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Forwarding line; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/one", "/two"} {
		resp, err := client.Get("http://127.0.0.1:" + local + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "hello from "+path {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
		}
	}
	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("port-forward: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward did not stop")
	}
	if n := strings.Count(stdout.String(), "Handling connection for "+local); n != 2 {
		t.Errorf("stdout %q: want 2 handled connections", stdout.String())
	}
}

func TestPortForwardCommandErrors(t *testing.T) {
	isolateKubeconfig(t)
	api, _ := portForwardAPI(t)
	ta := newTestApp(t, Deps{})
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"port-forward", "web"}, "error: TYPE/NAME and list of ports are required for port-forward"},
		{[]string{"port-forward", "deploy/web", "80"}, `error: only pods are supported here, not "deploy/web"`},
		{[]string{"port-forward", "nope", "80"}, `Error from server (NotFound): pods "nope" not found`},
		{[]string{"port-forward", "pending", "80"}, "error: unable to forward port because pod is not running. Current status=Pending"},
		{[]string{"port-forward", "web", "8080:nosuch"}, "error: Pod 'web' does not have a named port 'nosuch'"},
		{[]string{"port-forward", "web", "dns"}, "error: UDP protocol is not supported for dns"},
	} {
		ta.stdout.Reset()
		ta.stderr.Reset()
		err := ta.run(append(tc.args, "--server", api, "--data-dir", dataDir)...)
		if code := ExitCode(err, &ta.stderr); code != 1 || !strings.Contains(ta.stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, ta.stderr.String(), tc.want)
		}
	}
}
