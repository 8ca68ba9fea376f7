package cli

import (
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/internal/apitest"
)

// realAPI is shoal's own API server over an in-memory store, for the
// commands that need what the fake server lacks: watches, Tables with the
// real columns, status updates.
func realAPI(t *testing.T) (*httptest.Server, kubernetes.Interface) {
	t.Helper()
	e := apitest.New(t, apitest.WithoutAuth())
	return e.Server, e.CS
}

// realAPIApp is an App talking to realAPI, and a client to set the scene.
func realAPIApp(t *testing.T) (kubernetes.Interface, *testApp, func(args ...string) error) {
	t.Helper()
	isolateKubeconfig(t)
	srv, cs := realAPI(t)
	ta := newTestApp(t, Deps{Stdin: strings.NewReader("")})
	dataDir := t.TempDir()
	return cs, ta, func(args ...string) error {
		ta.stdout.Reset()
		ta.stderr.Reset()
		return ta.run(append(args, "--server", srv.URL, "--data-dir", dataDir)...)
	}
}
