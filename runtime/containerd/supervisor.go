package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"syscall"
	"time"
)

// ErrNoContainerd is returned by Supervisor.Run when no containerd binary is
// on PATH.
var ErrNoContainerd = errors.New("containerd not found on PATH (install the containerd package, or point shoal at an existing socket)")

// Supervisor starts a private containerd (config, root, state and socket
// under one directory) and keeps it running:
//
//	      Run(ctx)
//	         |
//	   write config.toml
//	         |
//	  +--> start containerd ---- socket answers ---> Ready() closed (once)
//	  |      |
//	  |   process exits (ctx alive)
//	  |      |
//	  +-- backoff 0.5s..30s
//
//	ctx cancelled: SIGTERM, wait StopTimeout, SIGKILL; Run returns nil.
//
// Containers keep running across daemon restarts (their shims outlive it).
type Supervisor struct {
	dir    string
	logger *slog.Logger
	// StopTimeout is how long Run waits after SIGTERM before SIGKILL.
	stopTimeout time.Duration

	readyOnce sync.Once
	ready     chan struct{}
}

// SupervisorOption configures a Supervisor.
type SupervisorOption func(*Supervisor)

// WithSupervisorLogger sets the logger (default: discard).
func WithSupervisorLogger(l *slog.Logger) SupervisorOption {
	return func(s *Supervisor) { s.logger = l }
}

// WithStopTimeout sets the grace between SIGTERM and SIGKILL (default 10s).
func WithStopTimeout(d time.Duration) SupervisorOption {
	return func(s *Supervisor) { s.stopTimeout = d }
}

// NewSupervisor returns a Supervisor keeping its files under dir; it does
// no I/O until Run.
func NewSupervisor(dir string, opts ...SupervisorOption) *Supervisor {
	s := &Supervisor{
		dir:         dir,
		logger:      slog.New(slog.DiscardHandler),
		stopTimeout: 10 * time.Second,
		ready:       make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Socket is the containerd gRPC socket's path.
func (s *Supervisor) Socket() string { return filepath.Join(s.dir, "containerd.sock") }

// Ready is closed once containerd first answers on Socket.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Run starts containerd and restarts it when it dies, until ctx ends; then
// it stops the daemon and returns nil. It returns an error at once when the
// binary is missing or the config cannot be written.
func (s *Supervisor) Run(ctx context.Context) error {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return ErrNoContainerd
	}
	cfg, err := s.writeConfig()
	if err != nil {
		return err
	}
	backoff := 500 * time.Millisecond
	for {
		started := time.Now()
		err := s.runOnce(ctx, bin, cfg)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		s.logger.Warn("containerd exited; restarting", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// runOnce runs one containerd process until it exits or ctx ends.
func (s *Supervisor) runOnce(ctx context.Context, bin, cfg string) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("containerd log: %w", err)
	}
	defer logf.Close()
	_ = os.Remove(s.Socket()) // a stale socket from a killed daemon
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so a terminal's ^C reaches shoal, which then stops
	// containerd in order; Pdeathsig covers shoal itself being killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// Pdeathsig fires when the forking *thread* exits, and Go ends threads
	// (e.g. the ones that made network namespaces), so fork from a locked
	// thread that lives until containerd does.
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	s.logger.Info("containerd started", "pid", cmd.Process.Pid, "socket", s.Socket())
	go s.waitSocket(ctx, exited)

	select {
	case err := <-exited:
		return fmt.Errorf("containerd exited: %w (see %s)", err, logf.Name())
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(s.stopTimeout):
		s.logger.Warn("containerd did not stop after SIGTERM; killing")
		_ = cmd.Process.Kill()
		<-exited
	}
	s.logger.Info("containerd stopped")
	return nil
}

// waitSocket closes ready once the socket accepts connections.
func (s *Supervisor) waitSocket(ctx context.Context, exited <-chan error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if c, err := net.DialTimeout("unix", s.Socket(), time.Second); err == nil {
			c.Close()
			s.readyOnce.Do(func() { close(s.ready) })
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if len(exited) > 0 {
			return
		}
	}
}

// writeConfig writes config.toml and makes the directories it names.
func (s *Supervisor) writeConfig() (string, error) {
	for _, d := range []string{"root", "state"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o711); err != nil {
			return "", fmt.Errorf("containerd dir: %w", err)
		}
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""
  level = "info"
`, filepath.Join(s.dir, "root"), filepath.Join(s.dir, "state"), s.Socket(), s.Socket()+".ttrpc")
	path := filepath.Join(s.dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("containerd config: %w", err)
	}
	return path, nil
}
