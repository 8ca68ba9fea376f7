package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Faults are the fault knobs. Maps are keyed by image reference as given
// to PullImage or ContainerConfig.Image.
type Faults struct {
	// StartError makes every StartContainer fail with it.
	StartError error
	// StartDelay delays every StartContainer.
	StartDelay time.Duration
	// PullError makes pulls of an image fail (wrapped in ErrImagePull).
	PullError map[string]error
	// ExitCode is the exit code of an image's containers when they end by
	// themselves (RunFor) .
	ExitCode map[string]int32
	// RunFor is how long an image's containers run; 0 = until stopped.
	RunFor map[string]time.Duration
}

// state is what survives Restart.
type state struct {
	mu         sync.Mutex
	faults     Faults
	images     map[string]*runtime.Image
	sandboxes  map[string]*runtime.Sandbox
	containers map[string]*container
	nextID     int
}

type container struct {
	status runtime.ContainerStatus
	image  string
	logs   []logLine
	timer  *time.Timer
	exited chan struct{} // closed at exit
}

type logLine struct {
	ts   time.Time
	text string
}

// Runtime is the fake. Its zero value is not usable; call New.
type Runtime struct {
	st     *state
	closed atomic.Bool
}

// New returns an empty fake with no images.
func New() *Runtime {
	return &Runtime{st: &state{
		faults:     Faults{PullError: map[string]error{}, ExitCode: map[string]int32{}, RunFor: map[string]time.Duration{}},
		images:     map[string]*runtime.Image{},
		sandboxes:  map[string]*runtime.Sandbox{},
		containers: map[string]*container{},
	}}
}

// Restart returns a new Runtime over the same state, as a restarted shoal
// would see it.
func (r *Runtime) Restart() *Runtime { return &Runtime{st: r.st} }

// SetFaults changes the fault knobs under the fake's lock.
func (r *Runtime) SetFaults(fn func(*Faults)) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	fn(&r.st.faults)
}

// AddImage makes ref a local image, as ImportImages would.
func (r *Runtime) AddImage(ref string) *runtime.Image {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	return r.st.addImage(ref)
}

// AppendLog adds a line to a container's log.
func (r *Runtime) AppendLog(id, text string) error {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	c, ok := r.st.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	c.logs = append(c.logs, logLine{ts: time.Now(), text: text})
	return nil
}

// Exit ends a running container with code, as if its process exited.
func (r *Runtime) Exit(id string, code int32) error {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	c, ok := r.st.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	r.st.exit(c, code, "")
	return nil
}

func (s *state) addImage(ref string) *runtime.Image {
	name := normalize(ref)
	if img, ok := s.images[name]; ok {
		return img
	}
	sum := sha256.Sum256([]byte(name))
	img := &runtime.Image{Ref: name, ID: "sha256:" + hex.EncodeToString(sum[:]), Digest: "sha256:" + hex.EncodeToString(sum[:])[:32] + strings.Repeat("0", 32), Size: 1 << 20}
	s.images[name] = img
	return img
}

// normalize mimics docker's: "busybox" -> "docker.io/library/busybox:latest".
func normalize(ref string) string {
	name, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i:]
	}
	if strings.Contains(ref, "@") {
		tag = ""
	}
	first, _, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	if tag == "" && !strings.Contains(ref, "@") {
		tag = ":latest"
	}
	return name + tag
}

// exit records a container's end; the caller holds s.mu.
func (s *state) exit(c *container, code int32, reason string) {
	if c.status.State != runtime.StateRunning {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if reason == "" {
		reason = "Error"
		if code == 0 {
			reason = "Completed"
		}
	}
	c.status.State = runtime.StateExited
	c.status.ExitCode = code
	c.status.Reason = reason
	c.status.FinishedAt = time.Now()
	close(c.exited)
}

func (r *Runtime) check(ctx context.Context) error {
	if r.closed.Load() {
		return fmt.Errorf("fake runtime is closed")
	}
	return ctx.Err()
}

// PullImage "pulls" ref unless PullError names it.
func (r *Runtime) PullImage(ctx context.Context, ref string, _ *runtime.RegistryAuth) (*runtime.Image, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if err, ok := r.st.faults.PullError[ref]; ok {
		return nil, fmt.Errorf("%w: %s: %w", runtime.ErrImagePull, ref, err)
	}
	img := *r.st.addImage(ref)
	return &img, nil
}

// ImageStatus reports a local image by reference or ID.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (*runtime.Image, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if img, ok := r.st.images[normalize(ref)]; ok {
		cp := *img
		return &cp, nil
	}
	for _, img := range r.st.images {
		if img.ID == ref {
			cp := *img
			return &cp, nil
		}
	}
	return nil, fmt.Errorf("image %s: %w", ref, runtime.ErrNotFound)
}

// ListImages lists the local images by reference.
func (r *Runtime) ListImages(ctx context.Context) ([]*runtime.Image, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	out := make([]*runtime.Image, 0, len(r.st.images))
	for _, img := range r.st.images {
		cp := *img
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// ImportImages reads image references, one a line, from rd (the fake's
// archive format).
func (r *Runtime) ImportImages(ctx context.Context, rd io.Reader) ([]*runtime.Image, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var out []*runtime.Image
	for _, ref := range strings.Fields(string(b)) {
		out = append(out, r.AddImage(ref))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import: no images in archive")
	}
	return out, nil
}

// Version is "fake://0.0.0".
func (r *Runtime) Version(ctx context.Context) (string, error) { return "fake://0.0.0", r.check(ctx) }

// Close marks the runtime closed; the state (and running containers) stay.
func (r *Runtime) Close() error {
	r.closed.Store(true)
	return nil
}
