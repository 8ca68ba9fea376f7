// Package procfs reads the few machine figures shoal takes from /proc: the
// memory of /proc/meminfo, the busy CPU time of /proc/stat, the interface
// counters of /proc/net/dev, and the process count against
// kernel.pid_max. The node's capacity, the kubelet's eviction signals and
// the resource-metrics collector all read them here, so the kernel's
// formats are parsed in one place.
//
//	m, err := procfs.FS{}.Meminfo() // FS{Root: dir} reads a fake /proc in tests
package procfs
