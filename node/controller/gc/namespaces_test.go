package gc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/controller"
	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/follow"
)

// runNamespaces runs the namespace controller over d until the returned
// stop is called; stop waits for Run to return and returns its error.
// Without a d.Cache it runs one over d.Store until then.
func runNamespaces(t *testing.T, d controller.Deps) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	cacheDone := make(chan struct{})
	if d.Cache == nil {
		d.Cache = follow.NewShared(d.Store, nil)
		go func() { _ = d.Cache.Run(ctx); close(cacheDone) }()
	} else {
		close(cacheDone)
	}
	go func() { runErr = (&Namespaces{Deps: d}).Run(ctx); close(done) }()
	stop = func() error {
		cancel()
		select {
		case <-done:
			<-cacheDone
			return runErr
		case <-time.After(10 * time.Second):
			t.Fatal("namespace controller still running 10s after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNamespacesStopReleasesWatcher: the controller's namespace watch is
// closed by the store (a snapshot restore) and re-opened; once the
// controller stops, no watch of namespaces is left open. The controller
// used to stop only its first watcher and leak every re-opened one.
func TestNamespacesStopReleasesWatcher(t *testing.T) {
	st := consensus.NewStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	stop := runNamespaces(t, controller.Deps{Store: st, Logger: quiet})
	open := func() bool { return st.Watchers("namespaces") == 1 }
	waitFor(t, "the controller opened no namespace watch", open)

	var snap bytes.Buffer
	if _, err := st.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	if err := st.Restore(&snap); err != nil { // closes every watch
		t.Fatal(err)
	}
	waitFor(t, "the controller did not re-open its namespace watch", open)

	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := st.Watchers("namespaces"); n != 0 {
		t.Fatalf("open namespace watches after the controller stopped = %d, want 0", n)
	}
}

// TestNamespacesDeletesContents: a deleted namespace is emptied and then
// removed, as kubectl delete namespace expects.
func TestNamespacesDeletesContents(t *testing.T) {
	e := controllertest.New(t)
	cs := e.CS
	runNamespaces(t, e.Deps)

	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("doomed").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last error
	waitFor(t, "namespace doomed not removed", func() bool {
		_, last = cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(last)
	})
	cms, err := cs.CoreV1().ConfigMaps("doomed").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) != 0 {
		t.Fatalf("configmaps left in the removed namespace: %d, want 0", len(cms.Items))
	}
}
