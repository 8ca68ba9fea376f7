package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The pod tests run every node in a network namespace the test creates,
// joined by a bridge in a hub namespace that has no link off the machine:
// pods and Services get addresses only inside these namespaces, and the
// machine's own namespace never sends traffic to them. Clients (shoal,
// kubectl) run inside a node's namespace too. Everything is torn down when
// the test ends, failed or not: processes, mounts, namespaces.

// nodeSubnet is the test network of the nodes; the hub's bridge is .1.
const nodeSubnet = "192.168.77"

// netLab is one test's network: a hub with a bridge, and node namespaces.
type netLab struct {
	t   testing.TB
	id  string
	hub string
	// nodes[i] is the namespace of node i, addressed nodeSubnet.(11+i).
	nodes []string
}

// requireRoot skips tests that need root, ip and the container runtime.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, containerd and runc")
	}
	for _, bin := range []string{"ip", "containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s on PATH (make deps installs it)", bin)
		}
	}
}

// newNetLab makes the hub and n node namespaces.
func newNetLab(t testing.TB, n int) *netLab {
	t.Helper()
	lab := &netLab{t: t, id: fmt.Sprintf("%05d", rand.Intn(100000))}
	lab.hub = "shoal-e2e-" + lab.id + "-hub"
	t.Cleanup(lab.destroy)
	lab.ip("netns", "add", lab.hub)
	lab.in(lab.hub, "ip", "link", "set", "lo", "up")
	lab.in(lab.hub, "ip", "link", "add", "br0", "type", "bridge")
	lab.in(lab.hub, "ip", "addr", "add", nodeSubnet+".1/24", "dev", "br0")
	lab.in(lab.hub, "ip", "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("shoal-e2e-%s-n%d", lab.id, i)
		lab.nodes = append(lab.nodes, ns)
		lab.ip("netns", "add", ns)
		veth := fmt.Sprintf("se%s%d", lab.id, i)
		lab.ip("link", "add", veth, "netns", lab.hub, "type", "veth", "peer", "name", "eth0", "netns", ns)
		lab.in(lab.hub, "ip", "link", "set", veth, "master", "br0", "up")
		lab.in(ns, "ip", "link", "set", "lo", "up")
		lab.in(ns, "ip", "addr", "add", lab.NodeIP(i)+"/24", "dev", "eth0")
		lab.in(ns, "ip", "link", "set", "eth0", "up")
	}
	return lab
}

// NodeIP is node i's address.
func (l *netLab) NodeIP(i int) string { return fmt.Sprintf("%s.%d", nodeSubnet, 11+i) }

// HubIP is the hub bridge's address (where the test registry listens).
func (l *netLab) HubIP() string { return nodeSubnet + ".1" }

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside namespace ns and fails the test if it fails.
// Commands enter only the network namespace (nsenter --net), not a new
// mount namespace as `ip netns exec` would: runc needs the machine's
// cgroup mounts, which `ip netns exec` hides behind a fresh /sys.
func (l *netLab) in(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.run(ns, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// run runs a command inside namespace ns.
func (l *netLab) run(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// start runs a long-lived command in ns; the lab kills it at the end.
func (l *netLab) start(ns string, logTo io.Writer, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
	if logTo != nil {
		cmd.Stdout, cmd.Stderr = logTo, logTo
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %v in %s: %v", args, ns, err)
	}
	return cmd
}

// destroy kills every process in the lab's namespaces, unmounts what they
// left under the test's temp dirs, and deletes the namespaces.
func (l *netLab) destroy() {
	all := append([]string{l.hub}, l.nodes...)
	for _, ns := range all {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, ns := range all {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

// unmountUnder detaches every mount below dir (deepest first): overlay
// snapshots, netns bind mounts and tmpfs volumes a killed agent left.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// cleanDir unmounts what is below dir and removes it.
func cleanDir(dir string) {
	unmountUnder(filepath.Clean(dir))
	os.RemoveAll(dir)
}

// listenIn opens a TCP listener inside namespace ns: the socket belongs to
// the namespace it was made in, whichever thread accepts on it later.
func listenIn(ns, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter %s: %w", ns, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace now: let it die with the
		// goroutine rather than be reused (LockOSThread without Unlock).
		runtime.LockOSThread()
		return nil, fmt.Errorf("return from %s: %w", ns, err)
	}
	return l, lerr
}

// killAll kills every process left in the lab's namespaces.
func (l *netLab) killAll() {
	for _, ns := range append([]string{l.hub}, l.nodes...) {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// killContainersOf kills every process in the cgroups runc made for the
// containerd namespaces of the named nodes ("/shoal-<node>/<container>"):
// the containers live in their pods' network namespaces, not the node's,
// and outlive a killed shim.
func killContainersOf(nodes []string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/cgroup")
		if err != nil {
			continue
		}
		for _, n := range nodes {
			if strings.Contains(string(b), ":/shoal-"+n+"/") {
				exec.Command("kill", "-9", pid).Run()
				break
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	// Then the cgroups runc left behind, children first, and runc's state
	// of the nodes' namespaces (the shims killed above never removed it).
	for _, n := range nodes {
		os.RemoveAll("/run/containerd/runc/shoal-" + n)
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/shoal-" + n)
		if u, _ := filepath.Glob("/sys/fs/cgroup/shoal-" + n); len(u) > 0 {
			dirs = append(dirs, u...)
		}
		for _, d := range dirs {
			kids, _ := filepath.Glob(d + "/*")
			for _, k := range kids {
				if st, err := os.Stat(k); err == nil && st.IsDir() {
					syscall.Rmdir(k)
				}
			}
			syscall.Rmdir(d)
		}
	}
}

// dialIn returns a dialer whose connections are made inside namespace ns,
// so a client in this process reaches an API that lives there; the
// traffic starts and stays inside the test's namespaces.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer self.Close()
			target, err := os.Open("/run/netns/" + ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			} // else: the thread stays locked and dies with this goroutine
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
