package reset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/node/network"
	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

// Host is one agent's footprint on this host. The zero values of the
// roots are the real ones; tests point them elsewhere.
type Host struct {
	// DataDir is the agent's --data-dir.
	DataDir string
	// Namespace is the node's containerd namespace ("shoal-<node>").
	Namespace string
	// Socket is the containerd the agent used; "" when it ran no pods.
	Socket string
	// OwnContainerd says Socket is the agent's own containerd under
	// DataDir, which Run starts for the purge when it is not running.
	OwnContainerd bool
	// Network removes the pod network (bridge, nftables table, routes)
	// from the network namespace Run is called in.
	Network bool
	// Logger receives what the steps do in detail (default: discard).
	Logger *slog.Logger

	// ProcRoot (/proc), CgroupRoot (/sys/fs/cgroup), RunDir
	// (/run/containerd, where shims keep runc state and sockets) and
	// MountInfo (/proc/self/mountinfo).
	ProcRoot, CgroupRoot, RunDir, MountInfo string
}

// containerdStart bounds the start of the agent's own containerd.
const containerdStart = 30 * time.Second

func (h *Host) defaults() {
	if h.ProcRoot == "" {
		h.ProcRoot = "/proc"
	}
	if h.CgroupRoot == "" {
		h.CgroupRoot = "/sys/fs/cgroup"
	}
	if h.RunDir == "" {
		h.RunDir = "/run/containerd"
	}
	if h.MountInfo == "" {
		h.MountInfo = "/proc/self/mountinfo"
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run removes everything of the agent but its data dir, in the order that
// lets each step succeed: containers through containerd (their shims exit,
// runc removes their cgroups and rootfs mounts), then whatever processes
// are left, the shims' files, the mounts under the data dir, the cgroups,
// the pod network. It goes on past a failed step, so one run removes all
// it can, and returns one line per thing removed with the failures
// joined. The agent must have stopped: the caller checks.
func (h Host) Run(ctx context.Context) ([]string, error) {
	h.defaults()
	var did []string
	var errs []error
	step := func(name string, d []string, err error) {
		did = append(did, d...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if h.Socket != "" && h.Namespace != "" {
		d, err := h.purge(ctx)
		step("containers", d, err)
	}
	if h.Namespace != "" {
		m := matcher{Namespace: h.Namespace, Socket: h.Socket}
		if h.OwnContainerd {
			m.ContainerdConfig = filepath.Join(h.DataDir, "containerd", "config.toml")
		}
		procs, err := findProcesses(h.ProcRoot, m)
		step("processes", nil, err)
		d, err := killProcesses(h.ProcRoot, procs, 5*time.Second)
		step("processes", d, err)
		d, err = h.removeShimFiles(procs)
		step("shim files", d, err)
	}
	d, err := unmountUnder(h.MountInfo, h.DataDir)
	step("mounts", d, err)
	if h.Namespace != "" {
		d, err := removeCgroups(h.CgroupRoot, h.Namespace)
		step("cgroups", d, err)
	}
	if h.Network {
		d, err := network.RemoveHostNetwork()
		step("network", d, err)
	}
	return did, errors.Join(errs...)
}

// purge empties the node's containerd namespace, starting the agent's own
// containerd for it when it does not answer.
func (h Host) purge(ctx context.Context) ([]string, error) {
	if !answers(h.Socket) {
		if !h.OwnContainerd {
			return nil, fmt.Errorf("containerd at %s does not answer: start it and run reset again to remove the containers of %s", h.Socket, h.Namespace)
		}
		dir := filepath.Join(h.DataDir, "containerd")
		if _, err := os.Stat(filepath.Join(dir, "config.toml")); err != nil {
			return nil, nil // never started: nothing of it to purge
		}
		if _, err := exec.LookPath("containerd"); err != nil {
			h.Logger.Warn("containerd is not on PATH: the containers' processes are killed instead of deleted", "error", err)
			return nil, nil
		}
		sup := ctrd.NewSupervisor(dir, ctrd.WithStopTimeout(5*time.Second), ctrd.WithSupervisorLogger(h.Logger))
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sup.Run(sctx) }()
		defer func() { stop(); <-done }()
		select {
		case <-sup.Ready():
		case err := <-done:
			return nil, fmt.Errorf("start the agent's containerd to remove its containers: %v (see %s)", err, filepath.Join(dir, "containerd.log"))
		case <-time.After(containerdStart):
			return nil, fmt.Errorf("the agent's containerd did not answer within %s (see %s)", containerdStart, filepath.Join(dir, "containerd.log"))
		}
	}
	return ctrd.Purge(ctx, h.Socket, h.Namespace)
}

// removeShimFiles removes what the killed shims would have removed on a
// clean exit: their sockets and runc's state of the namespace.
func (h Host) removeShimFiles(killed []proc) ([]string, error) {
	var did []string
	var errs []error
	for _, p := range killed {
		if p.What != "shim" || p.ID == "" || h.Socket == "" {
			continue
		}
		s := shimSocket(h.RunDir, h.Socket, h.Namespace, p.ID)
		if err := os.Remove(s); err == nil {
			did = append(did, "shim socket "+s)
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	state := filepath.Join(h.RunDir, "runc", h.Namespace)
	if _, err := os.Stat(state); err == nil {
		if err := os.RemoveAll(state); err != nil {
			errs = append(errs, err)
		} else {
			did = append(did, "runc state "+state)
		}
	}
	return did, errors.Join(errs...)
}

// RemoveDataDir removes the data dir, refusing while anything is mounted
// below it: removing through a leftover bind mount would delete what it
// shows (a hostPath volume's host files).
func (h Host) RemoveDataDir() ([]string, error) {
	h.defaults()
	if _, err := os.Stat(h.DataDir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	b, err := os.ReadFile(h.MountInfo)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.MountInfo, err)
	}
	if m := mountsUnder(b, h.DataDir); len(m) > 0 {
		return nil, fmt.Errorf("data dir %s kept: %d mounts remain below it (%s): unmount them, then run reset again", h.DataDir, len(m), m[0])
	}
	if err := os.RemoveAll(h.DataDir); err != nil {
		return nil, fmt.Errorf("remove data dir: %w", err)
	}
	return []string{"data dir " + h.DataDir}, nil
}

// answers says whether something accepts connections on a unix socket.
func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
