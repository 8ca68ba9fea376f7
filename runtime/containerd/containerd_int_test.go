package containerd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/runtimetest"
)

// These tests start one private containerd (Supervisor) for the package,
// give every case its own containerd namespace and state dir, and remove
// every task, container, image, netns mount and file they made.

const testImageRef = "shoal.test/busybox:1"

var daemon struct {
	once   sync.Once
	skip   string
	socket string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemon.cancel != nil {
		purgeAll(daemon.socket)
		daemon.cancel()
		<-daemon.done
		unmountUnder(daemon.dir)
		os.RemoveAll(daemon.dir)
	}
	os.Exit(code)
}

// needDaemon skips unless root with containerd and runc, and starts the
// shared daemon once.
func needDaemon(t *testing.T) string {
	t.Helper()
	daemon.once.Do(func() {
		if os.Geteuid() != 0 {
			daemon.skip = "needs root (network namespaces, mounts, containerd)"
			return
		}
		for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
			if _, err := exec.LookPath(bin); err != nil {
				daemon.skip = bin + " is not on PATH (apt-get install containerd runc)"
				return
			}
		}
		dir, err := os.MkdirTemp("", "shoal-ctrd-") // short: the socket path is limited to 108 bytes
		if err != nil {
			daemon.skip = err.Error()
			return
		}
		sup := NewSupervisor(dir, WithStopTimeout(5*time.Second),
			WithSupervisorLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		ctx, cancel := context.WithCancel(context.Background())
		daemon.dir, daemon.socket, daemon.cancel, daemon.done = dir, sup.Socket(), cancel, make(chan error, 1)
		go func() { daemon.done <- sup.Run(ctx) }()
		select {
		case <-sup.Ready():
		case err := <-daemon.done:
			daemon.skip = fmt.Sprintf("containerd did not start: %v", err)
			daemon.cancel = nil
		case <-time.After(30 * time.Second):
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			daemon.skip = fmt.Sprintf("containerd did not answer within 30s; its log:\n%s", b)
		}
	})
	if daemon.skip != "" {
		t.Skip(daemon.skip)
	}
	return daemon.socket
}

var nsCounter atomic.Int64

// node is one test's runtime state: a containerd namespace and a state dir.
type node struct {
	ns, state string
	rt        *Runtime
}

// newNodeFactory returns a runtimetest factory: the first call for a test
// makes a node, later calls re-create the Runtime over it (a restart).
func newNodeFactory(mirrors map[string]string) func(t *testing.T) runtime.Runtime {
	return newNodeFactoryWith(func(o *Options) { o.Mirrors = mirrors })
}

func newNodeFactoryWith(opt func(*Options)) func(t *testing.T) runtime.Runtime {
	var mu sync.Mutex
	nodes := map[*testing.T]*node{}
	return func(t *testing.T) runtime.Runtime {
		socket := needDaemon(t)
		mu.Lock()
		n, ok := nodes[t]
		if !ok {
			n = &node{ns: fmt.Sprintf("shoal-test-%d-%d", os.Getpid(), nsCounter.Add(1)), state: t.TempDir()}
			nodes[t] = n
			t.Cleanup(func() { n.cleanup(t, socket) })
		}
		mu.Unlock()
		o := Options{
			Socket: socket, Namespace: n.ns, StateDir: n.state,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		opt(&o)
		rt, err := New(context.Background(), o)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		n.rt = rt
		return rt
	}
}

// cleanup removes everything of the node, even after a failure.
func (n *node) cleanup(t *testing.T, socket string) {
	if n.rt != nil {
		n.rt.Close()
	}
	purgeNamespace(t, socket, n.ns)
	if ents, err := os.ReadDir(netnsDir(n.state)); err == nil {
		for _, e := range ents {
			if err := removeNetNS(filepath.Join(netnsDir(n.state), e.Name())); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	unmountUnder(n.state)
	removeCgroups(n.ns)
}

// removeCgroups removes the empty per-namespace cgroups runc leaves behind
// (cgroupsPath "/<namespace>/<container>"), children first.
func removeCgroups(ns string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns)
	if d := "/sys/fs/cgroup/" + ns; dirExists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		kids, _ := filepath.Glob(d + "/*")
		for _, k := range kids {
			if dirExists(k) {
				syscall.Rmdir(k)
			}
		}
		syscall.Rmdir(d)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// purgeNamespace kills and deletes every task, container and image of ns,
// then the namespace.
func purgeNamespace(t testing.TB, socket, ns string) {
	c, err := containerd.New(socket)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	cs, _ := c.Containers(ctx)
	for _, ctr := range cs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if ch, err := task.Wait(ctx); err == nil {
				if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err == nil {
					select {
					case <-ch:
					case <-time.After(10 * time.Second):
					}
				}
			}
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Logf("cleanup: delete container %s: %v", ctr.ID(), err)
		}
	}
	imgs, _ := c.ImageService().List(ctx)
	for _, im := range imgs {
		_ = c.ImageService().Delete(ctx, im.Name, images.SynchronousDelete())
	}
	_ = c.NamespaceService().Delete(ctx, ns)
	_ = os.Remove(filepath.Join("/run/containerd/runc", ns)) // the shim's per-namespace dir, when empty
}

// purgeAll empties every namespace of the shared daemon before it stops,
// so no shim outlives the tests.
func purgeAll(socket string) {
	c, err := containerd.New(socket)
	if err != nil {
		return
	}
	nss, _ := c.NamespaceService().List(context.Background())
	c.Close()
	for _, ns := range nss {
		purgeNamespace(nopTB{}, socket, ns)
	}
}

// unmountUnder detaches every mount below dir (deepest first).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		_ = unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}

func TestConformance(t *testing.T) {
	needDaemon(t)
	img := busyboxImage(t)
	archive := imageTarball(t, img, testImageRef)
	regURL := serveRegistry(t, img)
	newRuntime := newNodeFactory(map[string]string{"example.invalid": regURL})
	runtimetest.Run(t, newRuntime, runtimetest.TestImage{
		Ref: testImageRef,
		Load: func(t *testing.T, rt runtime.Runtime) {
			imgs, err := rt.ImportImages(context.Background(), bytes.NewReader(archive))
			if err != nil {
				t.Fatalf("ImportImages: %v", err)
			}
			if len(imgs) != 1 || imgs[0].Ref != testImageRef {
				t.Fatalf("ImportImages = %+v, want %s", imgs, testImageRef)
			}
		},
		PullRef:    "example.invalid/test/busybox:1",
		MissingRef: "example.invalid/test/busybox:nope",
		Real:       true,
		CheckRemoved: func(t *testing.T, sb *runtime.Sandbox) {
			if sb.NetNS != "" {
				if _, err := os.Stat(sb.NetNS); !os.IsNotExist(err) {
					t.Errorf("netns %s still exists (%v)", sb.NetNS, err)
				}
				if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(sb.NetNS)) {
					t.Errorf("netns %s is still mounted", sb.NetNS)
				}
			}
			state := filepath.Dir(filepath.Dir(sb.NetNS))
			if _, err := os.Stat(filepath.Join(sandboxesDir(state), sb.ID)); !os.IsNotExist(err) {
				t.Errorf("sandbox dir of %s still exists (%v)", sb.ID, err)
			}
			checkNoContainers(t, sb.ID)
		},
	})
}

// checkNoContainers fails if any namespace still has a container (and so a
// task) of the sandbox.
func checkNoContainers(t *testing.T, sandboxID string) {
	c, err := containerd.New(daemon.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nss, _ := c.NamespaceService().List(context.Background())
	for _, ns := range nss {
		ctx := namespaces.WithNamespace(context.Background(), ns)
		cs, _ := c.Containers(ctx, fmt.Sprintf(`labels.%q==%q`, labelSandbox, sandboxID))
		if len(cs) > 0 {
			t.Errorf("sandbox %s still has %d containers in %s", sandboxID, len(cs), ns)
		}
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type nopTB struct{ testing.TB }

func (nopTB) Errorf(string, ...any) {}
func (nopTB) Logf(string, ...any)   {}
