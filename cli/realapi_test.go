package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver"
)

// realAPI is shoal's own API server over an in-memory store, for the
// commands that need what the fake server lacks: watches, Tables with the
// real columns, status updates.
func realAPI(t *testing.T) (*httptest.Server, kubernetes.Interface) {
	t.Helper()
	st := consensus.NewStore()
	api := apiserver.New(apiserver.Config{
		Store: st, Proposer: consensus.NewLocalProposer(st),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv, cs
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
