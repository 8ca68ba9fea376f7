package streaming_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"

	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
	"github.com/shoal-project/shoal/runtime"
)

// testLogger writes to t.Log until the test ends (servers may log later).
func testLogger(t *testing.T) *slog.Logger {
	tw := &testWriter{t: t}
	t.Cleanup(func() {
		tw.mu.Lock()
		tw.done = true
		tw.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// locator maps namespace/pod/container (and "previous") to container ids.
type locator map[string]string

func (l locator) locate(ns, pod, container string, previous bool) (string, error) {
	key := ns + "/" + pod + "/" + container
	if previous {
		key += "/previous"
	}
	if id, ok := l[key]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%s: %w", key, runtime.ErrNotFound)
}

// newNode starts a NodeServer over the fake runtime: pod default/web has
// container app (id c-app, with a previous instance c-app-0).
func newNode(t *testing.T) (*streamingtest.Runtime, *httptest.Server) {
	t.Helper()
	rt := streamingtest.New()
	rt.AddContainer("c-app", "one", "two", "three")
	rt.AddContainer("c-app-0", "old")
	loc := locator{"default/web/app": "c-app", "default/web/app/previous": "c-app-0"}
	ns := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: rt, Locate: loc.locate, Logger: testLogger(t)})
	srv := httptest.NewServer(ns)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return rt, srv
}

func execURL(base, pod string, q url.Values) string {
	return base + "/shoal/v1/node/pods/default/" + pod + "/exec?" + q.Encode()
}

func execQuery(cmd []string, stdin, stderr, tty bool) url.Values {
	q := url.Values{"command": cmd, "container": {"app"}, "stdout": {"true"}}
	if stdin {
		q.Set("stdin", "true")
	}
	if stderr {
		q.Set("stderr", "true")
	}
	if tty {
		q.Set("tty", "true")
	}
	return q
}

// sizeQueue hands out sizes, then blocks until closed.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ce exec.CodeExitError
	if !errors.As(err, &ce) {
		t.Fatalf("exec error %v (%T), want an exit code", err, err)
	}
	return ce.Code
}

func TestExecWebSocket(t *testing.T) {
	_, srv := newNode(t)
	cfg := &rest.Config{Host: srv.URL}
	for _, tc := range []struct {
		name string
		cmd  []string
		code int
	}{
		{"success", []string{"sh", "-c", "cat"}, 0},
		{"exit code", []string{"sh", "-c", "cat", "exit=3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", execURL(srv.URL, "web", execQuery(tc.cmd, true, true, false)))
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
				Stdin: strings.NewReader("hello\nworld\n"), Stdout: &stdout, Stderr: &stderr,
			})
			if got := exitCode(t, err); got != tc.code {
				t.Errorf("exit code %d, want %d (err %v)", got, tc.code, err)
			}
			line := strings.Join(tc.cmd, " ")
			if want := "ran: " + line + "\nhello\nworld\n"; stdout.String() != want {
				t.Errorf("stdout %q, want %q", stdout.String(), want)
			}
			if want := "err: " + line + "\n"; stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
		})
	}
}

func TestExecWebSocketTTY(t *testing.T) {
	rt, srv := newNode(t)
	ex, err := remotecommand.NewWebSocketExecutor(&rest.Config{Host: srv.URL}, "GET", execURL(srv.URL, "web", execQuery([]string{"sh"}, true, false, true)))
	if err != nil {
		t.Fatal(err)
	}
	sizes := make(sizeQueue, 1)
	sizes <- remotecommand.TerminalSize{Width: 80, Height: 24}
	defer close(sizes)
	var stdout bytes.Buffer
	err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
		Stdin: strings.NewReader("ls\n"), Stdout: &stdout, Tty: true, TerminalSizeQueue: sizes,
	})
	if err != nil {
		t.Fatal(err)
	}
	// With a TTY, stderr comes on stdout (channel 1).
	if want := "ran: sh\nls\nerr: sh\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	calls := rt.Execs()
	last := calls[len(calls)-1]
	if !last.TTY || len(last.Sizes) != 1 || last.Sizes[0] != (runtime.TerminalSize{Width: 80, Height: 24}) {
		t.Errorf("exec call %+v, want a TTY sized 80x24", last)
	}
}

func TestExecWebSocketV4(t *testing.T) {
	_, srv := newNode(t)
	for _, proto := range []string{"v4.channel.k8s.io"} {
		t.Run(proto, func(t *testing.T) {
			ex, err := remotecommand.NewWebSocketExecutorForProtocols(&rest.Config{Host: srv.URL}, "GET",
				execURL(srv.URL, "web", execQuery([]string{"env", "exit=7"}, false, true, false)), proto)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
			if got := exitCode(t, err); got != 7 {
				t.Errorf("exit code %d, want 7", got)
			}
			if stdout.String() != "ran: env exit=7\n" || stderr.String() != "err: env exit=7\n" {
				t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

// v4.base64.channel.k8s.io (browsers) frames are text: the channel as an
// ASCII digit, then base64. client-go does not speak it, x/net does.
func TestExecWebSocketBase64(t *testing.T) {
	_, srv := newNode(t)
	u := strings.Replace(execURL(srv.URL, "web", execQuery([]string{"env", "exit=4"}, false, true, false)), "http", "ws", 1)
	cfg, err := websocket.NewConfig(u, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{"v4.base64.channel.k8s.io"}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	got := map[byte]string{}
	for {
		var msg string
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			break
		}
		if msg == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(msg[1:])
		if err != nil {
			t.Fatalf("frame %q: %v", msg, err)
		}
		got[msg[0]-'0'] += string(b)
	}
	if got[1] != "ran: env exit=4\n" || got[2] != "err: env exit=4\n" || !strings.Contains(got[3], `"reason":"NonZeroExitCode"`) || !strings.Contains(got[3], `"message":"4"`) {
		t.Errorf("channels %q", got)
	}
}

func TestExecSPDY(t *testing.T) {
	rt, srv := newNode(t)
	cfg := &rest.Config{Host: srv.URL}
	u, _ := url.Parse(execURL(srv.URL, "web", execQuery([]string{"cat", "exit=2"}, true, true, false)))
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
		Stdin: strings.NewReader("piped\n"), Stdout: &stdout, Stderr: &stderr,
	})
	if got := exitCode(t, err); got != 2 {
		t.Errorf("exit code %d, want 2 (err %v)", got, err)
	}
	if stdout.String() != "ran: cat exit=2\npiped\n" || stderr.String() != "err: cat exit=2\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}

	// TTY over SPDY, with a resize.
	u, _ = url.Parse(execURL(srv.URL, "web", execQuery([]string{"sh"}, true, false, true)))
	ex, _ = remotecommand.NewSPDYExecutor(cfg, "POST", u)
	sizes := make(sizeQueue, 1)
	sizes <- remotecommand.TerminalSize{Width: 100, Height: 40}
	defer close(sizes)
	stdout.Reset()
	err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
		Stdin: strings.NewReader("x\n"), Stdout: &stdout, Tty: true, TerminalSizeQueue: sizes,
	})
	if err != nil || stdout.String() != "ran: sh\nx\nerr: sh\n" {
		t.Errorf("tty over spdy: err %v, stdout %q", err, stdout.String())
	}
	calls := rt.Execs()
	if last := calls[len(calls)-1]; len(last.Sizes) != 1 || last.Sizes[0].Width != 100 {
		t.Errorf("exec call %+v, want a 100x40 resize", last)
	}
}

// The fallback kubectl uses: WebSocket first, SPDY when the upgrade fails.
func TestExecFallbackExecutor(t *testing.T) {
	_, srv := newNode(t)
	cfg := &rest.Config{Host: srv.URL}
	u, _ := url.Parse(execURL(srv.URL, "web", execQuery([]string{"true"}, false, true, false)))
	spdyEx, _ := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	wsEx, _ := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	ex, _ := remotecommand.NewFallbackExecutor(wsEx, spdyEx, func(error) bool { return true })
	var stdout bytes.Buffer
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "ran: true\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

// A client that goes away cancels the command's context.
func TestExecClientGoneCancels(t *testing.T) {
	rt, srv := newNode(t)
	for _, transport := range []string{"websocket", "spdy"} {
		t.Run(transport, func(t *testing.T) {
			cfg := &rest.Config{Host: srv.URL}
			u, _ := url.Parse(execURL(srv.URL, "web", execQuery([]string{"block"}, false, true, false)))
			var ex remotecommand.Executor
			if transport == "spdy" {
				ex, _ = remotecommand.NewSPDYExecutor(cfg, "POST", u)
			} else {
				ex, _ = remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
			select {
			case <-rt.Cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("the exec was not cancelled when the client left")
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	_, srv := newNode(t)
	for _, tc := range []struct {
		name   string
		q      url.Values
		header http.Header
		code   int
		msg    string
	}{
		{"no command", url.Values{"container": {"app"}, "stdout": {"true"}}, nil, 400, "you must specify at least 1 command"},
		{"no streams", url.Values{"container": {"app"}, "command": {"ls"}}, nil, 400, "at least 1 of stdin, stdout, stderr"},
		{"no upgrade", url.Values{"container": {"app"}, "command": {"ls"}, "stdout": {"1"}}, nil, 400, "Upgrade request required"},
		{"unknown container", url.Values{"container": {"nope"}, "command": {"ls"}, "stdout": {"1"}}, nil, 400, `container \"nope\" in pod \"web\" is not available`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(execURL(srv.URL, "web", tc.q))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.msg) || !strings.Contains(string(body), `"kind":"Status"`) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, body, tc.code, tc.msg)
			}
		})
	}
}

func getLog(t *testing.T, base, pod, query string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/shoal/v1/node/pods/default/" + pod + "/log?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLogs(t *testing.T) {
	_, srv := newNode(t)
	for _, tc := range []struct {
		query string
		code  int
		body  string
	}{
		{"container=app", 200, "one\ntwo\nthree\n"},
		{"container=app&tailLines=2", 200, "two\nthree\n"},
		{"container=app&tailLines=0", 200, ""},
		{"container=app&previous=true", 200, "old\n"},
		{"container=app&timestamps=true&tailLines=1", 200, "2024-01-02T03:04:05Z three\n"},
		{"container=app&limitBytes=6", 200, "one\ntw"},
		{"container=app&sinceTime=2030-01-01T00:00:00Z", 200, ""},
		{"container=nope", 400, `container \"nope\" in pod \"web\" is not available`},
		{"container=nope&previous=true", 400, `previous terminated container \"nope\" in pod \"web\" not found`},
		{"container=app&tailLines=-1", 422, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{"container=app&sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", 422, "at most one of `sinceTime` or `sinceSeconds`"},
		{"container=app&follow=maybe", 400, "invalid query parameters [follow]"},
	} {
		code, body := getLog(t, srv.URL, "web", tc.query)
		if code != tc.code || (code == 200 && body != tc.body) || (code != 200 && !strings.Contains(body, tc.body)) {
			t.Errorf("%s: %d %q, want %d %q", tc.query, code, body, tc.code, tc.body)
		}
	}
}

func TestLogsFollow(t *testing.T) {
	rt, srv := newNode(t)
	resp, err := http.Get(srv.URL + "/shoal/v1/node/pods/default/web/log?container=app&follow=true&tailLines=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	readLine := func(want string) {
		t.Helper()
		got, err := br.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	readLine("three")
	rt.Append("c-app", "four")
	readLine("four")
	rt.Append("c-app", "five")
	readLine("five")
	rt.Exit("c-app")
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after exit: %q, %v", rest, err)
	}
}
