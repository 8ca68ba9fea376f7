package reset

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one process an agent left.
type proc struct {
	PID int
	// What says what it is: "container", "shim" or "containerd".
	What string
	// ID is a shim's container id (its -id argument).
	ID string
}

// matcher recognises the processes of one agent.
type matcher struct {
	// Namespace is the node's containerd namespace; its containers' cgroups
	// are "/<Namespace>/<id>" and its shims run with "-namespace <Namespace>".
	Namespace string
	// Socket is the containerd socket the shims were started for; "" takes
	// every shim of Namespace.
	Socket string
	// ContainerdConfig is the agent's own containerd's config file; "" when
	// it ran none.
	ContainerdConfig string
}

// match classifies one process by its arguments and its /proc/PID/cgroup.
func (m matcher) match(args []string, cgroup []byte) (proc, bool) {
	if len(args) == 0 {
		return proc{}, false
	}
	base := filepath.Base(args[0])
	switch {
	case strings.HasPrefix(base, "containerd-shim") && argAfter(args, "-namespace") == m.Namespace &&
		(m.Socket == "" || argAfter(args, "-address") == m.Socket):
		return proc{What: "shim", ID: argAfter(args, "-id")}, true
	case base == "containerd" && m.ContainerdConfig != "" && argAfter(args, "--config") == m.ContainerdConfig:
		return proc{What: "containerd"}, true
	}
	for _, line := range strings.Split(string(cgroup), "\n") {
		// "hierarchy-id:controllers:path"; the path is the third field.
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (parts[2] == "/"+m.Namespace || strings.HasPrefix(parts[2], "/"+m.Namespace+"/")) {
			return proc{What: "container"}, true
		}
	}
	return proc{}, false
}

func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// findProcesses lists the processes under procRoot (/proc) that m
// matches, this process excluded.
func findProcesses(procRoot string, m matcher) ([]proc, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		cgroup, _ := os.ReadFile(filepath.Join(procRoot, e.Name(), "cgroup"))
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		if p, ok := m.match(args, cgroup); ok {
			p.PID = pid
			out = append(out, p)
		}
	}
	return out, nil
}

// killProcesses SIGKILLs procs and waits up to wait for them to be gone.
func killProcesses(procRoot string, procs []proc, wait time.Duration) ([]string, error) {
	var did []string
	var errs []error
	for _, p := range procs {
		if err := unix.Kill(p.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %s process %d: %w", p.What, p.PID, err))
			continue
		}
		did = append(did, fmt.Sprintf("%s process %d", p.What, p.PID))
	}
	deadline := time.Now().Add(wait)
	for _, p := range procs {
		for {
			// A zombie has no cmdline left; its parent (init) reaps it.
			b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(p.PID), "cmdline"))
			if err != nil || len(b) == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("%s process %d still runs after SIGKILL", p.What, p.PID))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return did, errors.Join(errs...)
}

// shimSocket is where a containerd 1.x shim listens
// (runtime/v2/shim.SocketAddress): its name is a hash of the containerd
// socket, the namespace and the container id, under /run/containerd/s.
func shimSocket(runDir, socket, namespace, id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(socket, namespace, id)))
	return filepath.Join(runDir, "s", fmt.Sprintf("%x", sum))
}
