package procfs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// procStat is a /proc/stat of a two-core machine (kernel 6.1).
const procStat = `cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6491 0 17875 0 0 0
cpu1 1335598 27848 517742 13341996 4624 0 3521 0 0 0
intr 1462898 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 2566472
btime 1700000000
processes 26155
`

func TestParseCPUBusy(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     uint64 // core nanoseconds
		err      string
	}{
		// user+nice+system+irq+softirq+steal, guest counted in user already.
		{"busy time", procStat, (10132153 + 290696 + 3084719 + 0 + 25195 + 0) * 10_000_000, ""},
		{"old kernel, four fields after cpu", "cpu 100 0 50 1000\n", 150 * 10_000_000, ""},
		{"iowait and idle are not busy", "cpu 0 0 0 500 500 0 0 0 0 0\n", 0, ""},
		{"steal is busy", "cpu 0 0 0 0 0 0 0 7 0 0\n", 7 * 10_000_000, ""},
		{"no cpu line", "cpu0 1 2 3 4\nintr 5\n", 0, "no cpu line"},
		{"short line", "cpu 1 2 3\n", 0, "short cpu line"},
		{"bad number", "cpu 1 x 3 4 5\n", 0, "cpu field 2"},
	} {
		got, err := ParseCPUBusy(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}

const procMeminfo = `MemTotal:        8152004 kB
MemFree:          412108 kB
MemAvailable:    5134124 kB
Buffers:          301428 kB
Cached:          4452720 kB
SwapCached:            0 kB
`

func TestParseMeminfo(t *testing.T) {
	m, err := ParseMeminfo(strings.NewReader(procMeminfo))
	if err != nil {
		t.Fatal(err)
	}
	want := Meminfo{Total: 8152004 * 1024, Free: 412108 * 1024, Available: 5134124 * 1024}
	if m != want {
		t.Fatalf("meminfo = %+v, want %+v", m, want)
	}
	if got, want := m.WorkingSet(), uint64(8152004-5134124)*1024; got != want {
		t.Errorf("working set = %d, want %d (MemTotal - MemAvailable)", got, want)
	}
	if got, want := m.Usage(), uint64(8152004-412108)*1024; got != want {
		t.Errorf("usage = %d, want %d (MemTotal - MemFree)", got, want)
	}
	for _, bad := range []string{
		"MemTotal: 100 kB\nMemFree: 50 kB\n", // no MemAvailable (kernel < 3.14)
		"MemTotal: x kB\nMemFree: 1 kB\nMemAvailable: 1 kB\n",
		"MemTotal:\nMemFree: 1 kB\nMemAvailable: 1 kB\n",
	} {
		if _, err := ParseMeminfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) succeeded", bad)
		}
	}
	if m := (Meminfo{Total: 1, Available: 2, Free: 3}); m.WorkingSet() != 0 || m.Usage() != 0 {
		t.Errorf("inconsistent figures must not wrap around: %d %d", m.WorkingSet(), m.Usage())
	}
}

const procNetDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0: 98765432   65000    3    0    0     0          0        12  1234567    9000    1    0    0     0       0          0
 veth1a2b:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
`

func TestParseNetDev(t *testing.T) {
	got, err := ParseNetDev(strings.NewReader(procNetDev))
	if err != nil {
		t.Fatal(err)
	}
	want := []Interface{
		{Name: "eth0", RxBytes: 98765432, RxErrors: 3, TxBytes: 1234567, TxErrors: 1},
		{Name: "veth1a2b", RxBytes: 1000, TxBytes: 2000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("interfaces:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"eth0: 1 2 3\n",
		"eth0: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n",
	} {
		if _, err := ParseNetDev(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseNetDev(%q) succeeded", bad)
		}
	}
}

// fakeProc writes files into a directory laid out as /proc.
func fakeProc(t *testing.T, files map[string]string) FS {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return FS{Root: root}
}

func TestFSReadsUnderRoot(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"meminfo":            procMeminfo,
		"stat":               procStat,
		"net/dev":            procNetDev,
		"sys/kernel/pid_max": "4194304\n",
		"loadavg":            "0.20 0.18 0.12 1/80 11206\n",
	})
	if m, err := fs.Meminfo(); err != nil || m.Total != 8152004*1024 {
		t.Errorf("Meminfo = %+v, %v", m, err)
	}
	if busy, err := fs.CPUBusy(); err != nil || busy == 0 {
		t.Errorf("CPUBusy = %d, %v", busy, err)
	}
	if ifs, err := fs.NetDev(); err != nil || len(ifs) != 2 {
		t.Errorf("NetDev = %+v, %v", ifs, err)
	}
	if max, running, err := fs.PIDs(); err != nil || max != 4194304 || running != 80 {
		t.Errorf("PIDs = %d, %d, %v; want 4194304, 80", max, running, err)
	}
}

func TestFSErrors(t *testing.T) {
	empty := FS{Root: t.TempDir()}
	if _, err := empty.Meminfo(); err == nil {
		t.Error("Meminfo of a missing file succeeded")
	}
	if _, _, err := empty.PIDs(); err == nil {
		t.Error("PIDs of missing files succeeded")
	}
	for _, bad := range []string{"0.1 0.1 0.1\n", "0.1 0.1 0.1 80 1\n", "0.1 0.1 0.1 1/x 1\n"} {
		fs := fakeProc(t, map[string]string{"sys/kernel/pid_max": "100\n", "loadavg": bad})
		if _, _, err := fs.PIDs(); err == nil {
			t.Errorf("PIDs with loadavg %q succeeded", bad)
		}
	}
}

// TestMachine reads the real /proc: the formats parsed above are the
// running kernel's.
func TestMachine(t *testing.T) {
	if _, err := os.Stat(DefaultRoot + "/meminfo"); err != nil {
		t.Skip("no /proc on this machine")
	}
	var fs FS
	if m, err := fs.Meminfo(); err != nil || m.Total == 0 || m.Available > m.Total {
		t.Errorf("Meminfo = %+v, %v", m, err)
	}
	if _, err := fs.CPUBusy(); err != nil {
		t.Errorf("CPUBusy: %v", err)
	}
	if max, running, err := fs.PIDs(); err != nil || max <= 0 || running <= 0 {
		t.Errorf("PIDs = %d, %d, %v", max, running, err)
	}
}
