package testimage

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxPath is Debian's static busybox (package busybox-static).
const BusyboxPath = "/usr/bin/busybox"

// File is one file of an image layer.
type File struct {
	Content []byte
	Mode    int64
	// Link makes the entry a symlink to Link instead.
	Link string
}

// Spec describes an image: busybox at /bin plus Files, with a config.
type Spec struct {
	Files      map[string]File
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// ExposedPorts like "8080/tcp".
	ExposedPorts []string
}

// Build makes the image Spec describes. It fails the test when busybox is
// missing.
func Build(t testing.TB, spec Spec) v1.Image {
	t.Helper()
	files := busyboxFiles(t)
	for p, f := range spec.Files {
		files[p] = f
	}
	layer, err := tarball.LayerFromOpener(func() (ioReadCloser, error) { return layerTar(files) })
	if err != nil {
		t.Fatalf("image layer: %v", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Created = v1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Cmd = spec.Cmd
	cfg.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, spec.Env...)
	cfg.Config.WorkingDir = spec.WorkingDir
	if len(spec.ExposedPorts) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatalf("image config: %v", err)
	}
	return img
}

// Busybox is busybox alone, with sh as its command.
func Busybox(t testing.TB) v1.Image {
	return Build(t, Spec{Cmd: []string{"sh"}})
}

// Bootcamp is the stand-in for gcr.io/google-samples/kubernetes-bootcamp at
// version (v1, v2, ...): it answers on :8080 with its hostname and version.
func Bootcamp(t testing.TB, version string) v1.Image {
	bin := GoBinary(t, "bootcamp", "-X main.version="+version)
	return Build(t, Spec{
		Files:        map[string]File{"bootcamp": {Content: bin, Mode: 0o755}},
		Entrypoint:   []string{"/bootcamp"},
		ExposedPorts: []string{"8080/tcp"},
	})
}

// Stress is the stand-in for polinux/stress: `stress --vm 1 --vm-bytes
// 150M --vm-hang 1` allocates and holds the memory.
func Stress(t testing.TB) v1.Image {
	bin := GoBinary(t, "stress", "")
	return Build(t, Spec{
		Files: map[string]File{"usr/bin/stress": {Content: bin, Mode: 0o755}},
		Cmd:   []string{"stress"},
	})
}

var (
	buildMu  sync.Mutex
	binaries = map[string][]byte{}
)

// GoBinary builds testdata/images/<name> as a static linux binary (cached
// per process and ldflags).
func GoBinary(t testing.TB, name, ldflags string) []byte {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := name + "|" + ldflags
	if b, ok := binaries[key]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./testdata/images/"+name)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test image program %s: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	binaries[key] = b
	return b
}

// moduleRoot finds the directory holding go.mod above this package's caller.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no go.mod above %s", dir)
	return ""
}

// busyboxFiles is /bin/busybox and a symlink per applet.
func busyboxFiles(t testing.TB) map[string]File {
	t.Helper()
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Skipf("test images need %s (Debian package busybox-static): %v", BusyboxPath, err)
	}
	files := map[string]File{"bin/busybox": {Content: bin, Mode: 0o755}}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			files["bin/"+applet] = File{Link: "busybox"}
		}
	}
	files["tmp/"] = File{Mode: 0o1777}
	files["etc/passwd"] = File{Content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), Mode: 0o644}
	files["etc/group"] = File{Content: []byte("root:x:0:\nnogroup:x:65534:\n"), Mode: 0o644}
	return files
}

// layerTar writes files as a tar stream, directories first, sorted.
func layerTar(files map[string]File) (ioReadCloser, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var paths []string
	for p := range files {
		paths = append(paths, p)
		for d := filepath.Dir(strings.TrimSuffix(p, "/")); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	sort.Strings(paths)
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mod}); err != nil {
			return nil, err
		}
	}
	for _, p := range paths {
		f := files[p]
		switch {
		case strings.HasSuffix(p, "/"):
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: f.Mode, ModTime: mod}); err != nil {
				return nil, err
			}
		case f.Link != "":
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: f.Link, Mode: 0o777, ModTime: mod}); err != nil {
				return nil, err
			}
		default:
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: f.Mode, Size: int64(len(f.Content)), ModTime: mod}); err != nil {
				return nil, err
			}
			if _, err := tw.Write(f.Content); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return nopCloser{bytes.NewReader(buf.Bytes())}, nil
}
