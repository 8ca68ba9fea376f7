package network

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Helpers for the tests that need real network namespaces. The outer half
// of such a test makes namespaces (and only namespaces and the links
// between them) and re-runs the test binary inside the one that stands for
// the node, like TestCNIAttachDetach; nothing gets an address, route or
// nftables table in the machine's own namespace, and no traffic leaves
// from it. Deleting the namespaces at the end removes every link, bridge,
// route and table the test made, failed or not.

// netnsLab is the set of namespaces one outer test made.
type netnsLab struct {
	t  *testing.T
	id string
}

// requireNetnsLab skips unless the test can make namespaces and attach
// pods with the CNI plugins.
func requireNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	if !pluginExists(DefaultPluginDirs, "bridge") {
		t.Skip("needs the CNI plugins (containernetworking-plugins)")
	}
	return &netnsLab{t: t, id: fmt.Sprintf("%05d", rand.Intn(100000))}
}

// ns makes a namespace with lo up and returns its name; it is deleted
// when the test ends.
func (l *netnsLab) ns(role string) string {
	l.t.Helper()
	name := fmt.Sprintf("shoal-nettest-%s-%s", l.id, role)
	l.ip("netns", "add", name)
	l.t.Cleanup(func() {
		if out, _ := exec.Command("ip", "netns", "pids", name).Output(); len(out) > 0 {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "netns", "del", name).Run()
	})
	l.in(name, "ip", "link", "set", "lo", "up")
	return name
}

// link joins namespaces a and b with a veth: ifA with addrA in a, ifB
// with addrB in b. The pair is created directly inside the namespaces.
func (l *netnsLab) link(a, ifA, addrA, b, ifB, addrB string) {
	l.t.Helper()
	tmp := fmt.Sprintf("snt%s%d", l.id, rand.Intn(1000))
	l.ip("link", "add", tmp, "netns", a, "type", "veth", "peer", "name", ifB, "netns", b)
	l.in(a, "ip", "link", "set", tmp, "name", ifA)
	l.in(a, "ip", "addr", "add", addrA, "dev", ifA)
	l.in(a, "ip", "link", "set", ifA, "up")
	l.in(b, "ip", "addr", "add", addrB, "dev", ifB)
	l.in(b, "ip", "link", "set", ifB, "up")
}

func (l *netnsLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside namespace ns.
func (l *netnsLab) in(ns string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inner re-runs the test named test inside namespace ns with env set, and
// fails the outer test when the inner one fails.
func (l *netnsLab) inner(ns, test string, env ...string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	l.t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil {
		l.t.Fatalf("inner test failed: %v", err)
	}
}

// inNetns runs fn on a thread that is inside the namespace at path ("" is
// the current one). Sockets fn makes belong to that namespace for good,
// whichever thread uses them later.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so it dies with the goroutine instead
		// of serving others from the wrong namespace.
		return fmt.Errorf("return from %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// serveName listens on addr inside the namespace at path and answers every
// connection with name; it stops when the test ends.
func serveName(t *testing.T, path, addr, name string) {
	t.Helper()
	var l net.Listener
	if err := inNetns(path, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name))
			c.Close()
		}
	}()
}

// ask connects to addr from the namespace at path ("" is the current one)
// and returns what the server said.
func ask(path, addr string) (string, error) {
	var c net.Conn
	if err := inNetns(path, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// askMany asks n times and counts the answers; any error fails the test.
func askMany(t *testing.T, path, addr string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		got, err := ask(path, addr)
		if err != nil {
			t.Fatalf("request %d to %s from %q: %v", i, addr, path, err)
		}
		seen[got]++
	}
	return seen
}

// serveNameUDP answers every datagram on addr, inside the namespace at
// path, with name; it stops when the test ends.
func serveNameUDP(t *testing.T, path, addr, name string) {
	t.Helper()
	var pc net.PacketConn
	if err := inNetns(path, func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen udp %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
}

// udpClient is one UDP socket, made inside a namespace, connected to a
// Service address.
type udpClient struct{ c net.Conn }

func dialUDP(t *testing.T, path, addr string) *udpClient {
	t.Helper()
	var c net.Conn
	if err := inNetns(path, func() (err error) {
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("dial udp %s from %s: %v", addr, path, err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{c}
}

// ask sends a datagram and returns the answer; it retries a few times, as
// a UDP client would.
func (u *udpClient) ask(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 512)
	var err error
	for range 5 {
		if _, err = u.c.Write([]byte("who")); err != nil {
			continue
		}
		u.c.SetReadDeadline(time.Now().Add(time.Second))
		var n int
		if n, err = u.c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no UDP answer from %s: %v", u.c.RemoteAddr(), err)
	return ""
}
