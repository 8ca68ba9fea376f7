package testimage

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type ioReadCloser = io.ReadCloser

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// Registry is an in-process OCI registry (plain HTTP) for one test.
type Registry struct {
	// Addr is host:port; agents reach it through --registry-mirror
	// HOST=http://Addr.
	Addr    string
	handler http.Handler
	t       testing.TB
}

// StartRegistry serves a registry on addr ("127.0.0.1:0" picks a port)
// until the test ends.
func StartRegistry(t testing.TB, addr string) *Registry {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("registry listen: %v", err)
	}
	r := &Registry{Addr: l.Addr().String(), handler: registry.New(registry.Logger(discardLogger())), t: t}
	r.ServeOn(l)
	return r
}

// ServeOn serves the same registry (the same images) on another listener
// too, e.g. one opened inside a test network namespace.
func (r *Registry) ServeOn(l net.Listener) {
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

// Push stores img as repo:tag (e.g. "google-samples/kubernetes-bootcamp:v1").
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(r.Addr+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

// WriteTarball writes img as a docker archive tagged ref, for `shoal images
// import` and runtime imports.
func WriteTarball(t testing.TB, path, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("tarball tag %s: %v", ref, err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarball.Write(tag, img, f); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
