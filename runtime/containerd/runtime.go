package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"

	"github.com/shoal-project/shoal/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Options configure a Runtime.
type Options struct {
	// Socket is containerd's gRPC socket (Supervisor.Socket for a private
	// daemon).
	Socket string
	// Namespace is the containerd namespace of this node's images and
	// containers; nodes sharing one containerd must use different ones.
	Namespace string
	// StateDir holds this node's sandboxes: netns mounts, hosts,
	// resolv.conf and hostname files, container logs, metadata.
	StateDir string
	// Network attaches sandboxes to the pod network; nil leaves them with a
	// loopback-only network namespace.
	Network runtime.NetworkPlugin
	// Mirrors maps a registry host (e.g. "docker.io", "gcr.io") to a mirror
	// URL ("http://127.0.0.1:5000"); plain HTTP is allowed for mirrors. A
	// mirrored registry is never contacted directly.
	Mirrors map[string]string
	// Logger is the component logger (default: discard).
	Logger *slog.Logger
	// LogMaxBytes is the size at which a container log rotates (default
	// 10 MiB; one rotated file is kept).
	LogMaxBytes int64
}

// Runtime is the containerd implementation of runtime.Runtime.
type Runtime struct {
	client      *containerd.Client
	opts        Options
	log         *slog.Logger
	snapshotter string

	// ctx scopes background work (exit monitors, log copiers); Close
	// cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[string]*liveTask // container id -> task attached to its log
	keys keyedMutex           // serialises work on one sandbox or container
}

// New connects to containerd, picks the snapshotter, and re-attaches the
// logs of containers that kept running while shoal was away.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Socket == "" || opts.Namespace == "" || opts.StateDir == "" {
		return nil, errors.New("runtime/containerd: Socket, Namespace and StateDir are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogMaxBytes <= 0 {
		opts.LogMaxBytes = 10 << 20
	}
	for _, d := range []string{sandboxesDir(opts.StateDir), netnsDir(opts.StateDir), fifoDir(opts.StateDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("runtime state dir: %w", err)
		}
	}
	client, err := dial(opts.Socket, opts.Namespace)
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", opts.Socket, err)
	}
	bg, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), opts.Namespace))
	r := &Runtime{
		client: client,
		opts:   opts,
		log:    opts.Logger,
		ctx:    bg,
		cancel: cancel,
		live:   map[string]*liveTask{},
	}
	ctx = r.nsctx(ctx)
	if r.snapshotter, err = pickSnapshotter(ctx, client); err != nil {
		client.Close()
		cancel()
		return nil, err
	}
	if err := r.reattach(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close stops the log copiers and releases the client; containers keep
// running and New attaches to them again.
func (r *Runtime) Close() error {
	r.cancel()
	r.mu.Lock()
	for id, lt := range r.live {
		lt.detach()
		delete(r.live, id)
	}
	r.mu.Unlock()
	r.wg.Wait()
	return r.client.Close()
}

// nsctx puts the node's containerd namespace on ctx.
func (r *Runtime) nsctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.opts.Namespace)
}

// pickSnapshotter prefers overlayfs and falls back to native.
func pickSnapshotter(ctx context.Context, c *containerd.Client) (string, error) {
	resp, err := c.IntrospectionService().Plugins(ctx, []string{`type=="io.containerd.snapshotter.v1",id=="overlayfs"`})
	if err != nil {
		return "", fmt.Errorf("containerd plugins: %w", err)
	}
	for _, p := range resp.Plugins {
		if p.InitErr == nil {
			return "overlayfs", nil
		}
	}
	return "native", nil
}

// notFound wraps err with runtime.ErrNotFound when containerd said so.
func notFound(err error, what string) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s: %w", what, runtime.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func sandboxesDir(state string) string { return filepath.Join(state, "sandboxes") }
func netnsDir(state string) string     { return filepath.Join(state, "netns") }
func fifoDir(state string) string      { return filepath.Join(state, "fifo") }

// keyedMutex locks by key; entries are never freed, which is fine for the
// number of sandboxes and containers one node sees in a process lifetime.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*sync.Mutex{}
	}
	l, ok := k.m[key]
	if !ok {
		l = &sync.Mutex{}
		k.m[key] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}
