package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// flushCounter is a ResponseWriter that counts the events written before
// each Flush, and holds the second Flush until gate is closed.
type flushCounter struct {
	hdr  http.Header
	gate chan struct{}

	mu      sync.Mutex
	body    bytes.Buffer
	flushes []int // events in the body at each flush
}

func (f *flushCounter) Header() http.Header { return f.hdr }
func (f *flushCounter) WriteHeader(int)     {}
func (f *flushCounter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.body.Write(p)
}

func (f *flushCounter) Flush() {
	f.mu.Lock()
	f.flushes = append(f.flushes, bytes.Count(f.body.Bytes(), []byte(`"type":"ADDED"`)))
	n := len(f.flushes)
	f.mu.Unlock()
	if n == 2 {
		<-f.gate
	}
}

func (f *flushCounter) state() (flushes []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.flushes...)
}

// TestWatchFlushesOncePerBurst: events that queued up while the stream
// was blocked are written with one flush, not one each.
func TestWatchFlushesOncePerBurst(t *testing.T) {
	e := newTestEnv(t)
	cms := e.cs.CoreV1().ConfigMaps("default")
	fc := &flushCounter{hdr: http.Header{}, gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet,
		"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion="+strconv.FormatUint(e.store.Index(), 10), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	done := make(chan struct{})
	go func() { defer close(done); e.srv.Handler().ServeHTTP(fc, req) }()
	defer func() { close(fc.gate); cancel(); <-done }()

	wait := func(what string, cond func([]int) bool) []int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := fc.state()
			if cond(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: %s; flushes (events written at each) %v", what, got)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait("the watch did not start", func(f []int) bool { return len(f) == 1 })
	const burst = 50
	if _, err := cms.Create(e.ctx, testConfigMap("c0", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("the first event was not flushed", func(f []int) bool { return len(f) == 2 })
	for i := 1; i <= burst; i++ { // queue while the stream is held at that flush
		if _, err := cms.Create(e.ctx, testConfigMap("c"+strconv.Itoa(i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fc.gate <- struct{}{} // release the held flush
	got := wait("the burst was not flushed", func(f []int) bool { return f[len(f)-1] == burst+1 })
	// One flush at the start, one for c0, then the burst: one at its end,
	// and at most one before it (Pending does not count the event being
	// handed over, so the stream may flush one event early).
	if len(got) > 4 {
		t.Fatalf("%d flushes for a burst of %d queued events (events written at each: %v), want at most 4", len(got), burst, got)
	}
}
