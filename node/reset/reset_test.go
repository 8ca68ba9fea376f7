package reset

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestMountsUnder(t *testing.T) {
	info := strings.Join([]string{
		"22 1 8:1 / / rw - ext4 /dev/sda1 rw",
		"30 22 0:40 / /data/pods/netns/abc rw - nsfs nsfs rw",
		"31 22 0:41 / /data/containerd/state/io.containerd.runtime.v2.task/shoal-n/c1/rootfs rw - overlay overlay rw",
		"32 22 0:42 / /data/kubelet/pods/u1/volumes/with\\040space rw - tmpfs tmpfs rw",
		"33 22 0:43 / /data-other/x rw - tmpfs tmpfs rw",
		"34 22 0:44 / /data rw - tmpfs tmpfs rw",
		"35 34 0:45 / /data/pods/netns/abc rw - nsfs nsfs rw", // stacked twice
	}, "\n")
	got := mountsUnder([]byte(info), "/data/")
	want := []string{
		"/data/containerd/state/io.containerd.runtime.v2.task/shoal-n/c1/rootfs",
		"/data/kubelet/pods/u1/volumes/with space",
		"/data/pods/netns/abc",
		"/data",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mountsUnder:\n got %q\nwant %q", got, want)
	}
}

func TestMatch(t *testing.T) {
	m := matcher{Namespace: "shoal-n", Socket: "/data/containerd/containerd.sock", ContainerdConfig: "/data/containerd/config.toml"}
	shim := func(ns, socket string) []string {
		return []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", ns, "-id", "c1", "-address", socket}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		cgroup string
		want   string // "" for no match
	}{
		{name: "our shim", args: shim("shoal-n", m.Socket), want: "shim"},
		{name: "a shim of another namespace", args: shim("shoal-n2", m.Socket)},
		{name: "a shim of our namespace in another containerd", args: shim("shoal-n", "/run/containerd/containerd.sock")},
		{name: "our containerd", args: []string{"/usr/bin/containerd", "--config", m.ContainerdConfig}, want: "containerd"},
		{name: "another containerd", args: []string{"/usr/bin/containerd", "--config", "/etc/containerd/config.toml"}},
		{name: "a container (cgroup v2)", args: []string{"sleep", "1"}, cgroup: "0::/shoal-n/c1\n", want: "container"},
		{name: "a container (cgroup v1)", args: []string{"sleep", "1"}, cgroup: "5:cpu:/user.slice\n4:memory:/shoal-n/c1\n", want: "container"},
		{name: "a look-alike namespace", args: []string{"sleep", "1"}, cgroup: "0::/shoal-n2/c1\n"},
		{name: "the user's shell", args: []string{"bash"}, cgroup: "0::/user.slice/user-0.slice/session-1.scope\n"},
		{name: "a kernel thread", args: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := m.match(tc.args, []byte(tc.cgroup))
			if ok != (tc.want != "") || p.What != tc.want {
				t.Fatalf("match = %+v, %v; want %q", p, ok, tc.want)
			}
			if tc.want == "shim" && p.ID != "c1" {
				t.Fatalf("shim id %q, want c1", p.ID)
			}
		})
	}
}

// TestFindProcesses reads a /proc made of files.
func TestFindProcesses(t *testing.T) {
	root := t.TempDir()
	write := func(pid int, args []string, cgroup string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644)
		os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644)
	}
	write(10, []string{"containerd-shim-runc-v2", "-namespace", "shoal-n", "-id", "c1", "-address", "/s"}, "0::/system.slice\n")
	write(11, []string{"sleep", "1"}, "0::/shoal-n/c1\n")
	write(12, []string{"sleep", "1"}, "0::/shoal-other/c1\n")
	write(os.Getpid(), []string{"shoal", "reset"}, "0::/shoal-n/c1\n") // never itself
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	got, err := findProcesses(root, matcher{Namespace: "shoal-n", Socket: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	want := []proc{{PID: 10, What: "shim", ID: "c1"}, {PID: 11, What: "container"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findProcesses = %+v, want %+v", got, want)
	}
}

// TestRemoveCgroups removes a namespace's cgroup trees (v2 and v1 layouts)
// children first and leaves the others; a second run finds nothing.
func TestRemoveCgroups(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"shoal-n/c1/sub", "shoal-n/c2", "memory/shoal-n/c1", "memory/user.slice", "shoal-n2/c1"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	did, err := removeCgroups(root, "shoal-n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cgroup " + filepath.Join(root, "shoal-n"), "cgroup " + filepath.Join(root, "memory/shoal-n")}
	if !reflect.DeepEqual(did, want) {
		t.Fatalf("removed %q, want %q", did, want)
	}
	for _, keep := range []string{"memory/user.slice", "shoal-n2/c1"} {
		if _, err := os.Stat(filepath.Join(root, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
	if did, err := removeCgroups(root, "shoal-n"); err != nil || len(did) != 0 {
		t.Fatalf("second run removed %q, %v", did, err)
	}
}

// TestShimSocket names the socket as containerd 1.x's shim package does
// (runtime/v2/shim.SocketAddress: sha256 of SOCKET/NAMESPACE/ID under
// /run/containerd/s; the value was computed with sha256sum).
func TestShimSocket(t *testing.T) {
	got := shimSocket("/run/containerd", "/data/containerd/containerd.sock", "shoal-n", "c1")
	if want := "/run/containerd/s/495b71d3325ebc42229211bd6027ba7d99bc745f8988505d7ba64c72ac054830"; got != want {
		t.Fatalf("shimSocket %q, want %q", got, want)
	}
}

// TestRemoveDataDir refuses while something is mounted below the data dir
// and removes it otherwise; a missing one is nothing to do.
func TestRemoveDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(dir, "raft"), 0o700)
	info := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(info, []byte("30 22 0:40 / "+dir+"/pods/netns/abc rw - nsfs nsfs rw\n"), 0o644)
	h := Host{DataDir: dir, MountInfo: info}
	if _, err := h.RemoveDataDir(); err == nil || !strings.Contains(err.Error(), "mounts remain") {
		t.Fatalf("with a mount below: %v", err)
	}
	os.WriteFile(info, []byte("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), 0o644)
	did, err := h.RemoveDataDir()
	if err != nil || len(did) != 1 {
		t.Fatalf("RemoveDataDir: %q, %v", did, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir still there: %v", err)
	}
	if did, err := h.RemoveDataDir(); err != nil || len(did) != 0 {
		t.Fatalf("second run: %q, %v", did, err)
	}
}
