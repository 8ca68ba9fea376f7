package preflight

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MountInfo is the mount table runc reads to find the cgroup hierarchy.
const MountInfo = "/proc/self/mountinfo"

// Cgroups checks that a cgroup hierarchy (cgroup2, or v1 controllers) is
// mounted and visible in the mount table at mountinfo, as runc needs to
// create a container. Without one every pod fails with runc's "no cgroup
// mount found in mountinfo".
func Cgroups(mountinfo string) Check {
	return Check{Name: "cgroups", Run: func() (string, error) {
		data, err := os.ReadFile(mountinfo)
		if err != nil {
			return "", fmt.Errorf("cannot read the mount table: %w", err)
		}
		v2, v1 := visibleCgroups(data)
		switch {
		case v2 != "" && len(v1) == 0:
			return "cgroup v2 at " + v2, nil
		case len(v1) > 0:
			return "cgroup v1 at " + filepath.Dir(v1[0]), nil
		}
		return "", fmt.Errorf("no cgroup mount found in %s: runc cannot create containers, so every pod would fail. "+
			"A shell entered with `ip netns exec` has a fresh /sys without the cgroup mounts: enter the network namespace with "+
			"`nsenter --net=/run/netns/NAME` instead (it keeps the host's /sys), or mount the hierarchy: mount -t cgroup2 none /sys/fs/cgroup", mountinfo)
	}}
}

// visibleCgroups returns the mount point of a visible cgroup2 mount and
// those of visible cgroup (v1) mounts. A mount is hidden when a later
// mount sits on its mount point or on a directory above it.
func visibleCgroups(mountinfo []byte) (v2 string, v1 []string) {
	type mount struct{ point, fstype string }
	var mounts []mount
	for _, line := range bytes.Split(mountinfo, []byte("\n")) {
		f := strings.Fields(string(line))
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		mounts = append(mounts, mount{point: f[4], fstype: f[sep+1]})
	}
	hidden := func(i int) bool {
		p := mounts[i].point
		for _, later := range mounts[i+1:] {
			q := later.point
			if q == p || q == "/" || strings.HasPrefix(p, q+"/") {
				return true
			}
		}
		return false
	}
	for i, m := range mounts {
		if (m.fstype != "cgroup2" && m.fstype != "cgroup") || hidden(i) {
			continue
		}
		if m.fstype == "cgroup2" {
			if v2 == "" {
				v2 = m.point
			}
		} else {
			v1 = append(v1, m.point)
		}
	}
	return v2, v1
}

// OnPath checks that each of the programs is on the search path pathEnv
// (a $PATH value) and executable. Each entry lists alternatives: any one
// of them will do ({"runc", "crun"}). install says how to get them.
func OnPath(name, pathEnv string, install string, programs ...[]string) Check {
	return Check{Name: name, Run: func() (string, error) {
		var found, errs []string
		for _, alts := range programs {
			p, err := lookPath(pathEnv, alts)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			found = append(found, p)
		}
		if len(errs) > 0 {
			return "", fmt.Errorf("%s: %s", strings.Join(errs, "; "), install)
		}
		return strings.Join(found, ", "), nil
	}}
}

// lookPath finds the first of alts in the directories of pathEnv. Unlike
// exec.LookPath it takes the path as input, and says when a file is there
// but cannot be run.
func lookPath(pathEnv string, alts []string) (string, error) {
	var notExec string
	for _, name := range alts {
		for _, dir := range filepath.SplitList(pathEnv) {
			if dir == "" {
				dir = "."
			}
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			if err != nil || st.IsDir() {
				continue
			}
			if st.Mode().Perm()&0o111 == 0 {
				if notExec == "" {
					notExec = p
				}
				continue
			}
			return p, nil
		}
	}
	if notExec != "" {
		return "", fmt.Errorf("%s is not executable (chmod +x it)", notExec)
	}
	return "", fmt.Errorf("%s not found on PATH (%s)", strings.Join(alts, " or "), pathEnv)
}

// CNIPlugins checks that each of the plugins is in one of dirs and is
// executable: the pod network runs them for every pod.
func CNIPlugins(dirs, plugins []string) Check {
	return Check{Name: "cni-plugins", Run: func() (string, error) {
		var errs []string
		for _, name := range plugins {
			if err := findPlugin(dirs, name); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return "", fmt.Errorf("%s: install containernetworking-plugins (Debian) or the upstream release into /opt/cni/bin",
				strings.Join(errs, "; "))
		}
		return strings.Join(plugins, ", ") + " in " + strings.Join(dirs, " or "), nil
	}}
}

func findPlugin(dirs []string, name string) error {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		// The first one found is the one libcni runs.
		if st.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("CNI plugin %s is not executable", p)
		}
		return nil
	}
	return fmt.Errorf("CNI plugin %q not found in %s", name, strings.Join(dirs, " or "))
}

// Port is one address the agent will listen on.
type Port struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Addr is the IP the agent binds (0.0.0.0 for all).
	Addr string
	Port int
	// What listens there ("the Kubernetes API").
	What string
	// Flag is the flag that changes the port ("--api-port"), if any.
	Flag string
}

// PortFree checks that p can be bound: it binds it and lets it go.
func PortFree(p Port) Check {
	return Check{Name: fmt.Sprintf("port %d/%s", p.Port, p.Proto), Run: func() (string, error) {
		addr := net.JoinHostPort(p.Addr, strconv.Itoa(p.Port))
		var err error
		if p.Proto == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				l.Close()
			}
		}
		if err == nil {
			return p.What + " on " + addr, nil
		}
		other := ""
		if p.Flag != "" {
			other = ", or choose another with " + p.Flag
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			ss := "ss -ltnp"
			if p.Proto == "udp" {
				ss = "ss -lunp"
			}
			return "", fmt.Errorf("%s (%s) is in use: stop what holds it (`%s 'sport = :%d'` shows it)%s",
				addr, p.What, ss, p.Port, other)
		case errors.Is(err, syscall.EACCES):
			return "", fmt.Errorf("%s (%s): permission denied: ports below 1024 need root (or CAP_NET_BIND_SERVICE)%s", addr, p.What, other)
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return "", fmt.Errorf("%s (%s): the address is not on this machine: check --bind and --advertise", addr, p.What)
		}
		return "", fmt.Errorf("%s (%s): cannot listen: %w", addr, p.What, err)
	}}
}

// IPForwardPath is the IPv4 forwarding switch of the calling process's
// network namespace.
const IPForwardPath = "/proc/sys/net/ipv4/ip_forward"

// IPForward checks that IPv4 forwarding (at path) is on, as pods' traffic
// to other nodes and Services needs. When it is off and fix is set, it
// switches it on and says so; it fails only when it cannot. Its note is
// empty when forwarding was on.
func IPForward(path string, fix bool) Check {
	return Check{Name: "ip-forward", Changes: fix, Run: func() (string, error) {
		cur, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %w", path, err)
		}
		if strings.TrimSpace(string(cur)) == "1" {
			return "", nil
		}
		if !fix {
			return "net.ipv4.ip_forward is 0; the agent sets it to 1 when it starts", nil
		}
		if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
			return "", fmt.Errorf("net.ipv4.ip_forward is 0 and cannot be set to 1 (%v): run `sysctl -w net.ipv4.ip_forward=1` as root", err)
		}
		return "net.ipv4.ip_forward was 0; set it to 1", nil
	}}
}

// DataDir checks that dir (or, when it does not exist yet, the directory
// that will hold it) is writable, and that inUse finds no other agent
// holding it (nil inUse skips that part).
func DataDir(dir string, inUse func() error) Check {
	return Check{Name: "data-dir", Run: func() (string, error) {
		at := dir
		for {
			st, err := os.Stat(at)
			if err == nil {
				if !st.IsDir() {
					return "", fmt.Errorf("%s is not a directory: choose another with --data-dir", at)
				}
				break
			}
			if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return "", fmt.Errorf("%s: %w", at, err)
			}
			up := filepath.Dir(at)
			if up == at {
				break
			}
			at = up
		}
		f, err := os.CreateTemp(at, ".shoal-preflight-*")
		if err != nil {
			return "", fmt.Errorf("%s is not writable (%v): the agent keeps raft data and the cluster identity there; "+
				"fix its permissions or mount, or choose another with --data-dir", dir, unwrapPath(err))
		}
		f.Close()
		os.Remove(f.Name())
		if inUse != nil {
			if err := inUse(); err != nil {
				return "", err
			}
		}
		return dir, nil
	}}
}

// unwrapPath drops the *PathError's operation and path, which the message
// already gives.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
