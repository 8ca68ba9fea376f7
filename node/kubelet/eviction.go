package kubelet

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/shoal-project/shoal/internal/procfs"
)

// Eviction signals and hard thresholds, as the kubelet's eviction manager
// has them: a signal below its threshold puts the node under the pressure
// the signal belongs to (memory.available: MemoryPressure; nodefs and
// imagefs: DiskPressure; pid.available: PIDPressure), which the node's
// conditions report. shoal reports the pressure; it does not evict pods.
//
// The signals are read as the kubelet reads them, with /proc and statfs
// in place of cAdvisor: memory.available is MemAvailable of
// /proc/meminfo, nodefs is the filesystem of the kubelet's root directory,
// imagefs that of the container runtime's (the same one when unknown),
// pid.available is kernel.pid_max minus the running threads.

// Eviction signals.
const (
	SignalMemoryAvailable   = "memory.available"
	SignalNodeFsAvailable   = "nodefs.available"
	SignalNodeFsInodesFree  = "nodefs.inodesFree"
	SignalImageFsAvailable  = "imagefs.available"
	SignalImageFsInodesFree = "imagefs.inodesFree"
	SignalPIDAvailable      = "pid.available"
)

// DefaultEvictionHard are the kubelet's default hard eviction thresholds
// on Linux. As in Kubernetes, pid.available has none: PIDPressure turns
// True only under a configured one.
var DefaultEvictionHard = map[string]string{
	SignalMemoryAvailable:   "100Mi",
	SignalNodeFsAvailable:   "10%",
	SignalNodeFsInodesFree:  "5%",
	SignalImageFsAvailable:  "15%",
	SignalImageFsInodesFree: "5%",
}

// signalCondition is the node condition each signal puts under pressure.
var signalCondition = map[string]corev1.NodeConditionType{
	SignalMemoryAvailable:   corev1.NodeMemoryPressure,
	SignalNodeFsAvailable:   corev1.NodeDiskPressure,
	SignalNodeFsInodesFree:  corev1.NodeDiskPressure,
	SignalImageFsAvailable:  corev1.NodeDiskPressure,
	SignalImageFsInodesFree: corev1.NodeDiskPressure,
	SignalPIDAvailable:      corev1.NodePIDPressure,
}

// threshold is one hard threshold: the signal is met when what is
// available falls below quantity, or below percent of the capacity.
type threshold struct {
	signal   string
	quantity *resource.Quantity
	percent  float64
}

// parseThresholds reads thresholds in the kubelet's configuration form
// (signal: "100Mi" or "10%").
func parseThresholds(m map[string]string) ([]threshold, error) {
	var out []threshold
	for signal, v := range m {
		if _, ok := signalCondition[signal]; !ok {
			return nil, fmt.Errorf("eviction threshold %s<%s: unknown signal", signal, v)
		}
		t := threshold{signal: signal}
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return nil, fmt.Errorf("eviction threshold %s<%s: invalid percentage", signal, v)
			}
			t.percent = f
		} else {
			q, err := resource.ParseQuantity(v)
			if err != nil || q.Sign() < 0 {
				return nil, fmt.Errorf("eviction threshold %s<%s: invalid quantity", signal, v)
			}
			t.quantity = &q
		}
		out = append(out, t)
	}
	return out, nil
}

// observation is one signal's reading.
type observation struct{ available, capacity int64 }

// met says whether the observation is below the threshold.
func (t threshold) met(o observation) bool {
	if t.quantity != nil {
		return o.available < t.quantity.Value()
	}
	return float64(o.available) < t.percent/100*float64(o.capacity)
}

// underPressure returns the conditions whose thresholds obs meets. A
// signal without an observation meets nothing.
func underPressure(ts []threshold, obs map[string]observation) map[corev1.NodeConditionType]bool {
	out := map[corev1.NodeConditionType]bool{}
	for _, t := range ts {
		if o, ok := obs[t.signal]; ok && t.met(o) {
			out[signalCondition[t.signal]] = true
		}
	}
	return out
}

// observeSignals reads every signal it can; one that cannot be read is
// left out (its thresholds are not met).
func observeSignals(rootDir, imageFsDir string) map[string]observation {
	obs := map[string]observation{}
	if m, err := (procfs.FS{}).Meminfo(); err == nil {
		obs[SignalMemoryAvailable] = observation{available: int64(m.Available), capacity: int64(m.Total)}
	}
	if imageFsDir == "" {
		imageFsDir = rootDir
	}
	for _, fs := range []struct{ dir, bytes, inodes string }{
		{rootDir, SignalNodeFsAvailable, SignalNodeFsInodesFree},
		{imageFsDir, SignalImageFsAvailable, SignalImageFsInodesFree},
	} {
		var st unix.Statfs_t
		if unix.Statfs(fs.dir, &st) != nil {
			continue
		}
		obs[fs.bytes] = observation{available: int64(st.Bavail) * st.Bsize, capacity: int64(st.Blocks) * st.Bsize}
		if st.Files > 0 {
			obs[fs.inodes] = observation{available: int64(st.Ffree), capacity: int64(st.Files)}
		}
	}
	if max, running, err := (procfs.FS{}).PIDs(); err == nil {
		obs[SignalPIDAvailable] = observation{available: max - running, capacity: max}
	}
	return obs
}
