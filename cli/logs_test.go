package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/apiserver"
	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/node/streaming/streamingtest"
	"github.com/shoal-project/shoal/runtime"
)

// streamingAPI is a real API server on node "a" whose pods/log and
// pods/exec go through streaming's proxy to a node server over a scripted
// runtime. Pods: web (container app) and multi (containers a, b), both
// labelled tier=front, and done (phase Succeeded).
func streamingAPI(t *testing.T) (*streamingtest.Runtime, *httptest.Server) {
	t.Helper()
	rt := streamingtest.New()
	rt.AddContainer("c-web", "one", "two", "three")
	rt.AddContainer("c-multi-a", "from a")
	rt.AddContainer("c-multi-b", "from b")
	ids := map[string]string{"default/web/app": "c-web", "default/multi/a": "c-multi-a", "default/multi/b": "c-multi-b", "default/done/app": "c-web"}
	locate := func(ns, pod, container string, previous bool) (string, error) {
		if id, ok := ids[ns+"/"+pod+"/"+container]; ok && !previous {
			return id, nil
		}
		return "", fmt.Errorf("%s/%s/%s: %w", ns, pod, container, runtime.ErrNotFound)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node := streaming.NewNodeServer(streaming.NodeServerConfig{Runtime: rt, Locate: locate, Logger: logger})

	e := nodeAAPI(t, node)
	front := map[string]string{"tier": "front"}
	for _, p := range []struct {
		name       string
		phase      corev1.PodPhase
		containers []string
		labels     map[string]string
	}{{"web", corev1.PodRunning, []string{"app"}, front}, {"multi", corev1.PodRunning, []string{"a", "b"}, front}, {"done", corev1.PodSucceeded, []string{"app"}, nil}} {
		pod := corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default", Labels: p.labels},
			Spec:       corev1.PodSpec{NodeName: "a"},
			Status:     corev1.PodStatus{Phase: p.phase},
		}
		for _, c := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
		}
		e.Seed("pods", "default", p.name, "uid-"+p.name, seedTime, &pod)
	}
	return rt, e.Server
}

// seedTime is when the streaming tests' pods were created.
var seedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// nodeAAPI is apitest's API server on node "a", whose pods/log, exec,
// attach and portforward go through streaming's proxy to node.
func nodeAAPI(t *testing.T, node http.Handler) *apitest.Env {
	t.Helper()
	return apitest.New(t, apitest.WithoutAuth(), apitest.WithAPI(func(c *apiserver.Config) {
		c.Subresources = streaming.NewProxy(streaming.ProxyConfig{
			Store: c.Store, Local: "a", LocalHandler: node, Logger: slog.New(slog.DiscardHandler),
			NodeAddr: func(string) (string, bool) { return "", false },
		}).Handlers()
	}))
}

// streamingApp is an App with stdin talking to streamingAPI.
func streamingApp(t *testing.T, stdin string) (*streamingtest.Runtime, *testApp, func(args ...string) error) {
	t.Helper()
	isolateKubeconfig(t)
	rt, srv := streamingAPI(t)
	ta := newTestApp(t, Deps{Stdin: strings.NewReader(stdin)})
	dataDir := t.TempDir()
	return rt, ta, func(args ...string) error {
		ta.stdout.Reset()
		ta.stderr.Reset()
		// The connection flags go first: exec's command follows "--".
		if len(args) == 0 {
			return ta.run()
		}
		return ta.run(append([]string{args[0], "--server", srv.URL, "--data-dir", dataDir}, args[1:]...)...)
	}
}

func TestLogsCommand(t *testing.T) {
	rt, ta, run := streamingApp(t, "")
	rt.Exit("c-web") // so that -f ends
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"logs", "web"}, "one\ntwo\nthree\n", ""},
		{[]string{"logs", "pod/web", "--tail", "1", "-n", "default"}, "three\n", ""},
		{[]string{"logs", "-f", "web", "--tail=2"}, "two\nthree\n", ""},
		{[]string{"logs", "web", "--timestamps", "--tail", "1"}, "2024-01-02T03:04:05Z three\n", ""},
		{[]string{"logs", "web", "--limit-bytes", "5"}, "one\nt", ""},
		{[]string{"logs", "multi"}, "from a\n", "Defaulted container \"a\" out of: a, b\n"},
		{[]string{"logs", "multi", "-c", "b"}, "from b\n", ""},
		{[]string{"logs", "multi", "b"}, "from b\n", ""},
		{[]string{"logs", "multi", "--all-containers"}, "from a\nfrom b\n", ""},
		{[]string{"logs", "multi", "--all-containers", "--prefix"}, "[pod/multi/a] from a\n[pod/multi/b] from b\n", ""},
		// -l: each pod in turn, by name, each with its default container
		// and kubectl's default of the last 10 lines.
		{[]string{"logs", "-l", "tier=front", "--prefix"}, "[pod/multi/a] from a\n[pod/web/app] one\n[pod/web/app] two\n[pod/web/app] three\n", "Defaulted container \"a\" out of: a, b\n"},
		{[]string{"logs", "-l", "tier=front", "--tail", "1"}, "from a\nthree\n", "Defaulted container \"a\" out of: a, b\n"},
		{[]string{"logs", "-l", "tier=back"}, "", "No resources found in default namespace.\n"},
	} {
		if err := run(tc.args...); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if ta.stdout.String() != tc.stdout || ta.stderr.String() != tc.stderr {
			t.Errorf("%v: stdout %q stderr %q, want %q %q", tc.args, ta.stdout.String(), ta.stderr.String(), tc.stdout, tc.stderr)
		}
	}
}

func TestLogsCommandErrors(t *testing.T) {
	_, ta, run := streamingApp(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "nope"}, `Error from server (NotFound): pods "nope" not found`},
		{[]string{"logs", "multi", "-c", "c"}, "error: container c is not valid for pod multi out of: a, b"},
		{[]string{"logs", "multi", "-c", "a", "b"}, "error: only one of -c or an inline [CONTAINER] arg is allowed"},
		{[]string{"logs", "multi", "--all-containers", "-c", "a"}, "error: --all-containers=true should not be specified with container name a"},
		{[]string{"logs", "web", "-l", "tier=front"}, "error: only a selector (-l) or a POD name is allowed"},
		{[]string{"logs", "-f", "-l", "tier=front", "--max-log-requests", "1"}, "error: you are attempting to follow 2 log streams, but maximum allowed concurrency is 1, use --max-log-requests to increase the limit"},
		{[]string{"logs", "web", "-p"}, `Error from server (BadRequest): previous terminated container "app" in pod "web" not found`},
		{[]string{"logs"}, "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'"},
		{[]string{"logs", "deploy/web"}, `Error from server (NotFound): deployments.apps "web" not found`},
		{[]string{"logs", "web", "--since", "1m", "--since-time", "2024-01-01T00:00:00Z"}, "at most one of `sinceTime` or `sinceSeconds`"},
	} {
		err := run(tc.args...)
		if code := ExitCode(err, &ta.stderr); code != 1 || !strings.Contains(ta.stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, ta.stderr.String(), tc.want)
		}
	}
}

func TestLogsOfWorkload(t *testing.T) {
	const deployment = `apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: front}
spec:
  selector: {matchLabels: {tier: front}}
  template:
    metadata: {labels: {tier: front}}
    spec: {containers: [{name: app, image: busybox}]}
`
	_, ta, run := streamingApp(t, deployment)
	if err := run("apply", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, ta.stderr.String())
	}
	// kubectl picks one pod and says which.
	if err := run("logs", "deploy/front", "--tail", "1"); err != nil {
		t.Fatal(err)
	}
	picked := map[string]string{"Found 2 pods, using pod/web\n": "three\n", "Found 2 pods, using pod/multi\nDefaulted container \"a\" out of: a, b\n": "from a\n"}
	if want, ok := picked[ta.stderr.String()]; !ok || ta.stdout.String() != want {
		t.Errorf("logs deploy/front: stdout %q, stderr %q", ta.stdout.String(), ta.stderr.String())
	}
	// --all-pods: every pod, prefixed, without the defaulting notes.
	if err := run("logs", "deployment/front", "--all-pods", "--tail", "1"); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(ta.stdout.String(), "\n"), "\n")
	sort.Strings(got)
	if want := []string{"[pod/multi/a] from a", "[pod/web/app] three"}; strings.Join(got, "|") != strings.Join(want, "|") || ta.stderr.String() != "" {
		t.Errorf("logs --all-pods: stdout %q, stderr %q, want lines %q", ta.stdout.String(), ta.stderr.String(), want)
	}
}
