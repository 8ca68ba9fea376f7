package resourcemetrics

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/stat's CPU times (USER_HZ): 100 on every
// Linux architecture Go supports, whatever the kernel's HZ.
const userHZ = 100

// parseProcStat reads the machine's cumulative busy CPU time, in core
// nanoseconds, from /proc/stat's aggregate "cpu" line: user, nice, system,
// irq, softirq and steal. idle and iowait are not busy; guest and
// guest_nice are already counted in user and nice.
func parseProcStat(r io.Reader) (uint64, error) {
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

// meminfo are the /proc/meminfo figures the node reports, in bytes.
type meminfo struct {
	Total, Free, Available uint64
}

// parseMeminfo reads MemTotal, MemFree and MemAvailable (kB) from
// /proc/meminfo.
func parseMeminfo(r io.Reader) (meminfo, error) {
	var m meminfo
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

// workingSet is what the node reports as its memory usage: what is not
// available to new work (MemTotal - MemAvailable).
func (m meminfo) workingSet() uint64 { return sat(m.Total, m.Available) }

// usage is MemTotal - MemFree (page cache included).
func (m meminfo) usage() uint64 { return sat(m.Total, m.Free) }

// parseNetDev reads the per-interface counters of /proc/net/dev (of the
// reading process's network namespace), loopback left out.
func parseNetDev(r io.Reader) ([]InterfaceStats, error) {
	var out []InterfaceStats
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
		out = append(out, InterfaceStats{Name: name, RxBytes: n[0], RxErrors: n[1], TxBytes: n[2], TxErrors: n[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/net/dev: %w", err)
	}
	return out, nil
}

// sumInterfaces adds the interfaces' counters.
func sumInterfaces(ifs []InterfaceStats) InterfaceStats {
	var t InterfaceStats
	for _, i := range ifs {
		t.RxBytes += i.RxBytes
		t.RxErrors += i.RxErrors
		t.TxBytes += i.TxBytes
		t.TxErrors += i.TxErrors
	}
	return t
}

// statFS reads the figures of the filesystem holding path.
func statFS(path string) (FsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FsStats{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return FsStats{
		CapacityBytes:  st.Blocks * bs,
		UsedBytes:      sat(st.Blocks, st.Bfree) * bs,
		AvailableBytes: st.Bavail * bs,
		Inodes:         st.Files,
		InodesFree:     st.Ffree,
	}, nil
}

// readProc opens a file under the proc root and parses it.
func readProc[T any](root, name string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(filepath.Join(root, name))
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f)
}

// sat is a - b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
