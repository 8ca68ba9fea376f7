package resourcemetrics

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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

// sat is a - b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
