package preflight

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountinfo lines as the kernel writes them.
const (
	miRoot     = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	miSys      = "23 22 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
	miCgroup2  = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
	miV1Tmpfs  = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	miV1Memory = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	miV1CPU    = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	// What a later mount over the cgroup directory, or a fresh sysfs over
	// /sys (`ip netns exec`), adds.
	miTmpfsOver = "90 30 0:50 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n"
	miFreshSys  = "91 22 0:51 / /sys rw,relatime - sysfs sysfs rw\n"
)

const cgroupAdvice = "`ip netns exec` has a fresh /sys without the cgroup mounts: enter the network namespace with `nsenter --net=/run/netns/NAME` instead"

func TestCgroups(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo string
		note, err       string
	}{
		{"v2", miRoot + miSys + miCgroup2, "cgroup v2 at /sys/fs/cgroup", ""},
		{"v1", miRoot + miSys + miV1Tmpfs + miV1CPU + miV1Memory, "cgroup v1 at /sys/fs/cgroup", ""},
		{"none", miRoot + miSys, "", "no cgroup mount found in "},
		{"hidden by a tmpfs", miRoot + miSys + miCgroup2 + miTmpfsOver, "", "no cgroup mount found in "},
		{"hidden by a fresh sysfs", miRoot + miSys + miV1Tmpfs + miV1CPU + miFreshSys, "", "no cgroup mount found in "},
		{"garbage", "not a mount table\n\n", "", "no cgroup mount found in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(path, []byte(tc.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			note, err := Cgroups(path).Run()
			checkOutcome(t, note, err, tc.note, tc.err)
			if tc.err != "" && !strings.Contains(err.Error(), cgroupAdvice) {
				t.Errorf("error %q does not advise nsenter (%q)", err, cgroupAdvice)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		_, err := Cgroups(filepath.Join(t.TempDir(), "missing")).Run()
		checkOutcome(t, "", err, "", "cannot read the mount table: ")
	})
}

// TestCgroupsHiddenByMountNamespace runs the check on the real mount
// table of a process in a new mount namespace whose /sys/fs/cgroup is
// covered by a tmpfs, as a shell entered with `ip netns exec` sees none:
// the check must fail with its message there, and pass outside.
func TestCgroupsHiddenByMountNamespace(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	if _, err := Cgroups(MountInfo).Run(); err != nil {
		t.Skipf("this host has no cgroup mount to hide: %v", err)
	}
	if err := unix.Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("cover /sys/fs/cgroup: %v", err)
	}
	_, err := Cgroups(MountInfo).Run()
	checkOutcome(t, "", err, "", "no cgroup mount found in /proc/self/mountinfo")
	if err != nil && !strings.Contains(err.Error(), cgroupAdvice) {
		t.Errorf("error %q does not advise nsenter", err)
	}
}

func TestOnPath(t *testing.T) {
	bin, other := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(bin, "containerd"), 0o755)
	writeFile(t, filepath.Join(bin, "runc"), 0o755)
	writeFile(t, filepath.Join(other, "crun"), 0o755)
	writeFile(t, filepath.Join(other, "runc-noexec"), 0o644)
	if err := os.Mkdir(filepath.Join(other, "containerd-shim-runc-v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := bin + string(os.PathListSeparator) + other
	const install = "install Debian's containerd and runc"
	for _, tc := range []struct {
		name     string
		path     string
		programs [][]string
		note     string
		err      string
	}{
		{"all there", path, [][]string{{"containerd"}, {"runc"}}, filepath.Join(bin, "containerd") + ", " + filepath.Join(bin, "runc"), ""},
		{"the first alternative", path, [][]string{{"runc", "crun"}}, filepath.Join(bin, "runc"), ""},
		{"the second alternative", other, [][]string{{"runc", "crun"}}, filepath.Join(other, "crun"), ""},
		{"missing", bin, [][]string{{"containerd"}, {"containerd-shim-runc-v2"}}, "",
			"containerd-shim-runc-v2 not found on PATH (" + bin + "): " + install},
		{"a directory is not a program", other, [][]string{{"containerd-shim-runc-v2"}}, "",
			"containerd-shim-runc-v2 not found on PATH"},
		{"neither alternative", bin, [][]string{{"crun", "youki"}}, "", "crun or youki not found on PATH (" + bin + "): " + install},
		{"not executable", other, [][]string{{"runc-noexec"}}, "",
			filepath.Join(other, "runc-noexec") + " is not executable (chmod +x it): " + install},
		{"empty PATH", "", [][]string{{"runc"}}, "", "runc not found on PATH ()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			note, err := OnPath("container-runtime", tc.path, install, tc.programs...).Run()
			checkOutcome(t, note, err, tc.note, tc.err)
		})
	}
}

func TestCNIPlugins(t *testing.T) {
	usr, opt := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(usr, "bridge"), 0o755)
	writeFile(t, filepath.Join(opt, "host-local"), 0o755)
	writeFile(t, filepath.Join(opt, "bridge"), 0o755)
	writeFile(t, filepath.Join(opt, "portmap"), 0o644)
	const install = "install containernetworking-plugins"
	for _, tc := range []struct {
		name    string
		dirs    []string
		plugins []string
		err     string
	}{
		{"across the dirs", []string{usr, opt}, []string{"bridge", "host-local"}, ""},
		{"missing", []string{usr}, []string{"bridge", "host-local"}, `CNI plugin "host-local" not found in ` + usr + ": " + install},
		{"both missing", []string{t.TempDir()}, []string{"bridge", "host-local"}, `CNI plugin "bridge" not found in `},
		{"not executable", []string{usr, opt}, []string{"portmap"}, "CNI plugin " + filepath.Join(opt, "portmap") + " is not executable: " + install},
		{"no dirs exist", []string{filepath.Join(usr, "nope")}, []string{"bridge"}, `CNI plugin "bridge" not found in ` + filepath.Join(usr, "nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CNIPlugins(tc.dirs, tc.plugins).Run()
			checkOutcome(t, "", err, "", tc.err)
		})
	}
}

func TestPortFree(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpPort := tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port
	free := freePort(t)

	for _, tc := range []struct {
		name string
		port Port
		err  string
	}{
		{"free", Port{Proto: "tcp", Addr: "127.0.0.1", Port: free, What: "raft"}, ""},
		{"tcp held", Port{Proto: "tcp", Addr: "127.0.0.1", Port: tcpPort, What: "the Kubernetes API", Flag: "--api-port"},
			"127.0.0.1:" + strconv.Itoa(tcpPort) + " (the Kubernetes API) is in use: stop what holds it (`ss -ltnp 'sport = :" + strconv.Itoa(tcpPort) + "'` shows it), or choose another with --api-port"},
		{"tcp held, all addresses", Port{Proto: "tcp", Addr: "0.0.0.0", Port: tcpPort, What: "gossip", Flag: "--gossip-port"},
			"0.0.0.0:" + strconv.Itoa(tcpPort) + " (gossip) is in use"},
		{"udp held", Port{Proto: "udp", Addr: "127.0.0.1", Port: udpPort, What: "gossip", Flag: "--gossip-port"},
			"127.0.0.1:" + strconv.Itoa(udpPort) + " (gossip) is in use: stop what holds it (`ss -lunp 'sport = :" + strconv.Itoa(udpPort) + "'` shows it), or choose another with --gossip-port"},
		{"no flag to change it", Port{Proto: "tcp", Addr: "127.0.0.1", Port: tcpPort, What: "the cluster DNS pods use"},
			"(the cluster DNS pods use) is in use: stop what holds it (`ss -ltnp 'sport = :" + strconv.Itoa(tcpPort) + "'` shows it)"},
		// 192.0.2.0/24 is TEST-NET-1: no machine has it, nothing is sent.
		{"not this machine's address", Port{Proto: "tcp", Addr: "192.0.2.77", Port: free, What: "raft"},
			"192.0.2.77:" + strconv.Itoa(free) + " (raft): the address is not on this machine: check --bind and --advertise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := PortFree(tc.port)
			if want := strconv.Itoa(tc.port.Port) + "/" + tc.port.Proto; c.Name != "port "+want {
				t.Errorf("name %q, want %q", c.Name, "port "+want)
			}
			_, err := c.Run()
			checkOutcome(t, "", err, "", tc.err)
		})
	}
	if os.Geteuid() != 0 {
		t.Run("privileged port", func(t *testing.T) {
			_, err := PortFree(Port{Proto: "tcp", Addr: "127.0.0.1", Port: 1, What: "x"}).Run()
			checkOutcome(t, "", err, "", "127.0.0.1:1 (x): permission denied: ports below 1024 need root")
		})
	}
}

func TestIPForward(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		fix           bool
		note, after   string
		changed       bool
	}{
		{"on", "1\n", true, "", "1\n", false},
		{"off, reported", "0\n", false, "net.ipv4.ip_forward is 0; the agent sets it to 1 when it starts", "0\n", false},
		{"off, set", "0\n", true, "net.ipv4.ip_forward was 0; set it to 1", "1\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ip_forward")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			r := Run([]Check{IPForward(path, tc.fix)})[0]
			checkOutcome(t, r.Note, r.Err, tc.note, "")
			if r.Changed != tc.changed {
				t.Errorf("Changed = %v, want %v", r.Changed, tc.changed)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.after {
				t.Errorf("file holds %q, want %q", b, tc.after)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing")
		_, err := IPForward(path, true).Run()
		checkOutcome(t, "", err, "", "cannot read "+path)
	})
	t.Run("cannot be set", func(t *testing.T) {
		dir := readOnlyDir(t, func(dir string) { writeFile(t, filepath.Join(dir, "ip_forward"), 0o444, "0\n") })
		if dir == "" {
			return
		}
		_, err := IPForward(filepath.Join(dir, "ip_forward"), true).Run()
		checkOutcome(t, "", err, "", "net.ipv4.ip_forward is 0 and cannot be set to 1 (")
		checkOutcome(t, "", err, "", "run `sysctl -w net.ipv4.ip_forward=1` as root")
	})
}

func TestDataDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	writeFile(t, file, 0o644)
	inUse := func() error { return os.ErrExist }
	for _, tc := range []struct {
		name, dir string
		inUse     func() error
		err       string
	}{
		{"exists", base, nil, ""},
		{"made at start", filepath.Join(base, "a", "b"), nil, ""},
		{"a file", file, nil, file + " is not a directory: choose another with --data-dir"},
		{"under a file", filepath.Join(file, "x"), nil, file + " is not a directory"},
		{"in use", base, inUse, os.ErrExist.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DataDir(tc.dir, tc.inUse).Run()
			checkOutcome(t, "", err, "", tc.err)
			if _, err := os.Stat(filepath.Join(base, "a")); err == nil {
				t.Errorf("the check made %s", filepath.Join(base, "a"))
			}
			if left, _ := filepath.Glob(filepath.Join(base, ".shoal-preflight-*")); len(left) > 0 {
				t.Errorf("the check left %v", left)
			}
		})
	}
	t.Run("read-only", func(t *testing.T) {
		dir := readOnlyDir(t, nil)
		if dir == "" {
			return
		}
		for _, d := range []string{dir, filepath.Join(dir, "shoal")} {
			_, err := DataDir(d, nil).Run()
			checkOutcome(t, "", err, "", d+" is not writable (")
			checkOutcome(t, "", err, "", "fix its permissions or mount, or choose another with --data-dir")
		}
	})
}

func TestRunAndFailed(t *testing.T) {
	ok := Check{Name: "fine", Run: func() (string, error) { return "", nil }}
	noted := Check{Name: "noted", Run: func() (string, error) { return "it is so", nil }}
	bad := Check{Name: "broken", Run: func() (string, error) { return "", os.ErrPermission }}
	results := Run([]Check{ok, bad, noted, bad})
	var lines []string
	for _, r := range results {
		lines = append(lines, r.String())
	}
	want := []string{"[preflight] fine: ok", "[preflight] broken: permission denied", "[preflight] noted: ok (it is so)", "[preflight] broken: permission denied"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	err := Failed(results)
	if err == nil || err.Error() != "[preflight] some checks failed:\n\t[preflight] broken: permission denied\n\t[preflight] broken: permission denied" {
		t.Errorf("Failed = %v", err)
	}
	if err := Failed(Run([]Check{ok, noted})); err != nil {
		t.Errorf("Failed with every check passing = %v", err)
	}
}

// checkOutcome compares a check's note and error with the wanted ones; a
// wanted error is a substring of the message ("" wants none).
func checkOutcome(t *testing.T, note string, err error, wantNote, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Errorf("no error, want one with %q (note %q)", wantErr, note)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("error %q\ndoes not contain %q", err, wantErr)
	case wantErr == "" && wantNote != "" && note != wantNote:
		t.Errorf("note %q, want %q", note, wantNote)
	}
}

func writeFile(t *testing.T, path string, mode os.FileMode, content ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(content, "")), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readOnlyDir returns a directory this process cannot write, filled by
// fill first. Without root it is a directory without write permission.
// Root writes through permissions, so for root it is a read-only tmpfs,
// which this test can only mount in a mount namespace of its own: the
// test then runs again in a child under `unshare --mount` and readOnlyDir
// returns "" here (or skips without unshare).
func readOnlyDir(t *testing.T, fill func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		if fill != nil {
			fill(dir)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return dir
	}
	if !inMountNamespace(t) {
		return ""
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if fill != nil {
		fill(dir)
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// childEnv names the test a child process runs in its own mount
// namespace.
const childEnv = "SHOAL_PREFLIGHT_MOUNTNS_TEST"

// inMountNamespace reports whether the calling test runs in a private
// mount namespace of its own, where it may mount what it likes (gone
// with the process). When not, it runs the same test in a child under
// `unshare --mount --propagation private`, reports the child's outcome,
// and returns false; it skips unless root with unshare(1).
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("a mount namespace needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not found (util-linux)")
	}
	top, sub, _ := strings.Cut(t.Name(), "/")
	run := "^" + top + "$"
	if sub != "" {
		run += "/^" + sub + "$"
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", os.Args[0], "-test.run", run, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a new mount namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a new mount namespace, the test did not pass:\n%s", out)
	}
	t.Logf("in a new mount namespace:\n%s", out)
	return false
}
