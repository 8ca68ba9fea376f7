package procfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultRoot is where the proc filesystem is mounted.
const DefaultRoot = "/proc"

// FS reads the files of one proc filesystem. The zero value reads
// DefaultRoot; tests point Root at a directory of fake files.
type FS struct{ Root string }

func (fs FS) path(name string) string {
	root := fs.Root
	if root == "" {
		root = DefaultRoot
	}
	return filepath.Join(root, name)
}

// read opens a file under the root and parses it.
func read[T any](fs FS, name string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(fs.path(name))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("procfs: %w", err)
	}
	defer f.Close()
	return parse(f)
}

// Meminfo are the figures of /proc/meminfo that shoal reports, in bytes.
type Meminfo struct {
	Total, Free, Available uint64
}

// WorkingSet is the memory not available to new work (MemTotal -
// MemAvailable): the node's usage as the kubelet reports it.
func (m Meminfo) WorkingSet() uint64 { return sat(m.Total, m.Available) }

// Usage is MemTotal - MemFree (page cache included).
func (m Meminfo) Usage() uint64 { return sat(m.Total, m.Free) }

// Meminfo reads MemTotal, MemFree and MemAvailable from meminfo.
func (fs FS) Meminfo() (Meminfo, error) { return read(fs, "meminfo", ParseMeminfo) }

// ParseMeminfo reads MemTotal, MemFree and MemAvailable (kB) from the text
// of /proc/meminfo. All three must be there: MemAvailable is since Linux
// 3.14, and a figure guessed without it would mislead eviction.
func ParseMeminfo(r io.Reader) (Meminfo, error) {
	var m Meminfo
	seen := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "MemTotal":
			dst = &m.Total
		case "MemFree":
			dst = &m.Free
		case "MemAvailable":
			dst = &m.Available
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return m, fmt.Errorf("/proc/meminfo: empty %s", key)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/meminfo: %s: %w", key, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		*dst = n
		seen++
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("/proc/meminfo: %w", err)
	}
	if seen < 3 {
		return m, fmt.Errorf("/proc/meminfo: MemTotal, MemFree or MemAvailable missing")
	}
	return m, nil
}

// userHZ is the unit of /proc/stat's CPU times (USER_HZ): 100 on every
// Linux architecture Go supports, whatever the kernel's HZ.
const userHZ = 100

// CPUBusy reads the machine's cumulative busy CPU time, in core
// nanoseconds, from stat.
func (fs FS) CPUBusy() (uint64, error) { return read(fs, "stat", ParseCPUBusy) }

// ParseCPUBusy reads the busy CPU time, in core nanoseconds, from the
// aggregate "cpu" line of /proc/stat: user, nice, system, irq, softirq and
// steal. idle and iowait are not busy; guest and guest_nice are already
// counted in user and nice.
func ParseCPUBusy(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return 0, fmt.Errorf("/proc/stat: short cpu line %q", sc.Text())
		}
		var busy uint64
		// fields: user nice system idle iowait irq softirq steal guest guest_nice
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			busy += n
		}
		return busy * (1e9 / userHZ), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("/proc/stat: %w", err)
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}

// Interface is one network interface's counters.
type Interface struct {
	Name                                 string
	RxBytes, RxErrors, TxBytes, TxErrors uint64
}

// NetDev reads the interface counters of net/dev, which are those of the
// reading process's network namespace; loopback is left out.
func (fs FS) NetDev() ([]Interface, error) { return read(fs, "net/dev", ParseNetDev) }

// ParseNetDev reads the per-interface counters of the text of
// /proc/net/dev, loopback left out.
func ParseNetDev(r io.Reader) ([]Interface, error) {
	var out []Interface
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue // the two header lines
		}
		name = strings.TrimSpace(name)
		if name == "lo" {
			continue
		}
		// receive: bytes packets errs drop fifo frame compressed multicast,
		// then transmit: bytes packets errs drop fifo colls carrier compressed.
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("/proc/net/dev: %s: %d fields, want 16", name, len(f))
		}
		var n [4]uint64
		for i, idx := range []int{0, 2, 8, 10} {
			v, err := strconv.ParseUint(f[idx], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/net/dev: %s: %w", name, err)
			}
			n[i] = v
		}
		out = append(out, Interface{Name: name, RxBytes: n[0], RxErrors: n[1], TxBytes: n[2], TxErrors: n[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/net/dev: %w", err)
	}
	return out, nil
}

// PIDs reads kernel.pid_max and the number of threads, the kernel's
// scheduling entities (the 4th field of loadavg after the slash): what the
// kubelet's pid.available signal compares.
func (fs FS) PIDs() (max, running int64, err error) {
	b, err := os.ReadFile(fs.path("sys/kernel/pid_max"))
	if err != nil {
		return 0, 0, fmt.Errorf("procfs: %w", err)
	}
	if max, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc/sys/kernel/pid_max: %w", err)
	}
	b, err = os.ReadFile(fs.path("loadavg"))
	if err != nil {
		return 0, 0, fmt.Errorf("procfs: %w", err)
	}
	if running, err = parseLoadavgThreads(string(b)); err != nil {
		return 0, 0, err
	}
	return max, running, nil
}

// parseLoadavgThreads reads the thread count of /proc/loadavg
// ("0.20 0.18 0.12 1/80 11206": 80).
func parseLoadavgThreads(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: %q", s)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg: %q", s)
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/loadavg: %w", err)
	}
	return n, nil
}

// sat is a - b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
