package streaming_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
)

// portForwardAPI is an API server on node "a" with pods pf-a (on a) and
// pf-b (on b, behind its own server), both at 127.0.0.1 where app
// listens; unscheduled (no node) and noip (no address).
func portForwardAPI(t *testing.T) *httptest.Server {
	t.Helper()
	nodeA := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: streamingtest.New(), Logger: testLogger(t)})
	nodeB := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: streamingtest.New(), Logger: testLogger(t)})
	srvB := httptest.NewServer(nodeB)
	t.Cleanup(func() {
		srvB.CloseClientConnections()
		srvB.Close()
	})
	e := nodeAAPI(t, streaming.ProxyConfig{
		LocalHandler: nodeA, Transport: http.DefaultTransport, Logger: testLogger(t),
		NodeAddr: func(n string) (string, bool) { return srvB.URL, n == "b" },
	})
	for _, p := range []struct{ name, node, ip string }{{"pf-a", "a", "127.0.0.1"}, {"pf-b", "b", "127.0.0.1"}, {"unscheduled", "", ""}, {"noip", "a", ""}} {
		e.Seed("pods", "default", p.name, "uid-"+p.name, seedTime, &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "app", Image: "x"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: p.ip},
		})
	}
	return e.Server
}

// appServer stands in for the pod: it answers with the path, or echoes
// the body of a POST.
func appServer(t *testing.T) (port string) {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.Copy(w, r.Body)
			return
		}
		fmt.Fprintf(w, "pod says %s", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	_, port, _ = net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	return port
}

type dialerKind string

const (
	viaWebSocket dialerKind = "websocket"
	viaSPDY      dialerKind = "spdy"
	viaFallback  dialerKind = "fallback"
)

func pfDialer(t *testing.T, kind dialerKind, api, pod string) httpstream.Dialer {
	t.Helper()
	cfg := &rest.Config{Host: api}
	u, _ := url.Parse(api + "/api/v1/namespaces/default/pods/" + pod + "/portforward")
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, "POST", u)
	if kind == viaSPDY {
		return spdyDialer
	}
	ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if kind == viaWebSocket {
		return ws
	}
	return portforward.NewFallbackDialerForStreaming(ws, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// startForward forwards a free local port to remotePort and returns it,
// with a function that waits for ForwardPorts' result, after stopping it
// when stop is true.
func startForward(t *testing.T, dialer httpstream.Dialer, remotePort string) (local uint16, wait func(stop bool) error) {
	t.Helper()
	stopCh, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreaming(dialer, []string{"127.0.0.1"}, []string{"0:" + remotePort}, stopCh, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-result:
		t.Fatalf("ForwardPorts: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("GetPorts: %v %v", ports, err)
	}
	return ports[0].Local, func(stop bool) error {
		if stop {
			close(stopCh)
		}
		select {
		case err := <-result:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("ForwardPorts did not return")
		}
	}
}

// TestPortForward forwards a local port through pods/portforward to a pod
// on this node and one on another, over SPDY tunnelled in a WebSocket, over
// plain SPDY and with kubectl's fallback dialer; two HTTP requests (two
// forwarded connections, then one kept alive) go through each.
func TestPortForward(t *testing.T) {
	api := portForwardAPI(t)
	port := appServer(t)
	for _, pod := range []string{"pf-a", "pf-b"} {
		for _, kind := range []dialerKind{viaWebSocket, viaSPDY, viaFallback} {
			t.Run(pod+"/"+string(kind), func(t *testing.T) {
				local, stop := startForward(t, pfDialer(t, kind, api.URL, pod), port)
				for _, keepAlive := range []bool{false, true} {
					client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
					for i := range 2 {
						path := fmt.Sprintf("/req-%d", i)
						resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", local, path))
						if err != nil {
							t.Fatalf("keepalive=%v request %d: %v", keepAlive, i, err)
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if want := "pod says " + path; resp.StatusCode != 200 || string(b) != want {
							t.Errorf("keepalive=%v request %d: %d %q, want 200 %q", keepAlive, i, resp.StatusCode, b, want)
						}
					}
					client.CloseIdleConnections()
				}
				// 4 MiB each way.
				big := bytes.Repeat([]byte("0123456789abcdef"), 256*1024)
				resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/echo", local), "application/octet-stream", bytes.NewReader(big))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(b, big) {
					t.Errorf("echo of %d bytes: got %d, %v", len(big), len(b), err)
				}
				if err := stop(true); err != nil {
					t.Errorf("ForwardPorts: %v", err)
				}
			})
		}
	}
}

// TestPortForwardDialError: a port nobody listens on; the node reports the
// failure on the error stream, upon which client-go drops the session.
func TestPortForwardDialError(t *testing.T) {
	api := portForwardAPI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	for _, kind := range []dialerKind{viaWebSocket, viaSPDY} {
		t.Run(string(kind), func(t *testing.T) {
			local, stop := startForward(t, pfDialer(t, kind, api.URL, "pf-b"), closedPort)
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("read from a forward to a closed port: %d %v", n, err)
			}
			c.Close()
			if err := stop(false); !errors.Is(err, portforward.ErrLostConnectionToPod) {
				t.Errorf("ForwardPorts = %v, want %v", err, portforward.ErrLostConnectionToPod)
			}
		})
	}
}

// TestPortForwardErrors: the pod must exist, be scheduled and have an
// address; the answers come before any upgrade.
func TestPortForwardErrors(t *testing.T) {
	api := portForwardAPI(t)
	for _, tc := range []struct {
		pod  string
		code int
	}{{"missing", 404}, {"unscheduled", 400}, {"noip", 400}} {
		for _, kind := range []dialerKind{viaWebSocket, viaSPDY} {
			_, _, err := pfDialer(t, kind, api.URL, tc.pod).Dial(portforward.PortForwardProtocolV1Name)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(tc.code)) && !strings.Contains(err.Error(), tc.pod) {
				t.Errorf("%s via %s: %v", tc.pod, kind, err)
			}
		}
		req, _ := http.NewRequest("POST", api.URL+"/api/v1/namespaces/default/pods/"+tc.pod+"/portforward", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "SPDY/3.1")
		req.Header.Set("X-Stream-Protocol-Version", "portforward.k8s.io")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.pod, resp.StatusCode, tc.code)
		}
	}
}
