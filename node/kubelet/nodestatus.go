package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/internal/procfs"
	"github.com/shoal-project/shoal/node/follow"
)

// maxPods is how many pods a node takes, Kubernetes' default.
const maxPods = 110

// reportNodeStatus patches what only the node itself knows into its Node
// status: capacity and allocatable (cpu, memory, pods, ephemeral-storage),
// addresses, nodeInfo (kernel, OS image, container runtime, kubelet
// version), its images, and the pressure conditions (conditions.go). It
// reads the machine every Tuning.NodeStatusUpdate and writes when
// something changed, or when the last write is Tuning.NodeStatusReport
// old, to move the heartbeats. The leader owns the Ready condition (from
// gossip); a strategic merge patch, merging conditions by type, leaves it
// alone. The kubelet is the one writer of its node's capacity and
// allocatable: when the stored ones differ from the machine's, it writes
// them again at the next read. The leader registers the Node; the kubelet
// reports as soon as it appears, so a new node does not wait a period
// without capacity (the scheduler places nothing there meanwhile).
func (k *Kubelet) reportNodeStatus(ctx context.Context) {
	if !follow.WaitReady(ctx, k.caches.nodes) {
		return
	}
	appeared := make(chan struct{}, 1)
	defer k.caches.nodes.AddHandler(follow.Handler[corev1.Node]{Add: func(n *corev1.Node) {
		if n.Name == k.cfg.NodeName {
			select {
			case appeared <- struct{}{}:
			default:
			}
		}
	}})()
	select { // the Node already there: the first pass below reports
	case <-appeared:
	default:
	}
	t := time.NewTicker(k.cfg.Tuning.NodeStatusUpdate)
	defer t.Stop()
	thresholds, err := parseThresholds(k.cfg.Tuning.EvictionHard)
	if err != nil {
		k.log.Error("eviction thresholds; using the defaults", "error", err)
		thresholds, _ = parseThresholds(DefaultEvictionHard)
	}
	pressure := &pressureMemory{period: k.cfg.Tuning.PressureTransition}
	var last *corev1.NodeStatus
	var lastReport time.Time
	var written *corev1.Node // as the last write left it, at writtenAt
	var writtenAt time.Time
	for {
		st, err := k.machineStatus(ctx)
		if err != nil {
			k.log.Warn("read node status", "error", err)
		} else {
			now := k.cfg.Now()
			under := pressure.update(underPressure(thresholds, observeSignals(k.cfg.RootDir, k.cfg.ImageFsDir)), now)
			if time.Since(writtenAt) > cacheLag {
				written = nil // see podWorker.newest
			}
			node := k.storedNode(written)
			var stored []corev1.NodeCondition
			if node != nil {
				stored = node.Status.Conditions
			}
			conds, events := conditionsFor(stored, under, metav1.NewTime(now.Truncate(time.Second)))
			if last == nil || now.Sub(lastReport) >= k.cfg.Tuning.NodeStatusReport ||
				!equality.Semantic.DeepEqual(*st, *last) || conditionsChanged(stored, conds) ||
				resourcesDiffer(node, st) {
				if updated, err := k.patchNodeStatus(ctx, st, conds); err != nil {
					if ctx.Err() == nil {
						k.log.Warn("write node status", "error", err)
					}
				} else {
					last, lastReport, written, writtenAt = st, now, updated, time.Now()
					for _, ev := range events {
						k.log.Info("node condition", "event", ev)
						k.events.recordNode(corev1.EventTypeNormal, ev)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-appeared:
		}
	}
}

// storedNode is this node's Node as last stored, to read only: the
// cache's, or written (what the kubelet's last write returned) while the
// cache has not caught up with it, so a condition just written is not
// taken for a new transition. nil when the Node does not exist yet.
func (k *Kubelet) storedNode(written *corev1.Node) *corev1.Node {
	cached := k.node()
	if written != nil && (cached == nil || cached.UID == written.UID && newerThan(written.ResourceVersion, cached.ResourceVersion)) {
		return written
	}
	return cached
}

// resourcesDiffer reports whether the stored node lacks the capacity or
// allocatable of st (another writer changed them). Resources st does not
// name are left alone: a merge patch would not remove them either.
func resourcesDiffer(node *corev1.Node, st *corev1.NodeStatus) bool {
	if node == nil {
		return false
	}
	for _, l := range []struct{ stored, want corev1.ResourceList }{
		{node.Status.Capacity, st.Capacity}, {node.Status.Allocatable, st.Allocatable},
	} {
		for name, q := range l.want {
			if have, ok := l.stored[name]; !ok || have.Cmp(q) != 0 {
				return true
			}
		}
	}
	return false
}

// patchNodeStatus writes what the kubelet owns of its node's status and
// returns the node as stored afterwards.
func (k *Kubelet) patchNodeStatus(ctx context.Context, st *corev1.NodeStatus, conds []corev1.NodeCondition) (*corev1.Node, error) {
	// Ready stays last, where the kubelet keeps it in Kubernetes.
	order := []map[string]corev1.NodeConditionType{}
	for _, c := range conds {
		order = append(order, map[string]corev1.NodeConditionType{"type": c.Type})
	}
	order = append(order, map[string]corev1.NodeConditionType{"type": corev1.NodeReady})
	body, err := json.Marshal(map[string]any{"status": map[string]any{
		"capacity": st.Capacity, "allocatable": st.Allocatable, "addresses": st.Addresses,
		"nodeInfo": st.NodeInfo, "images": st.Images, "conditions": conds,
		"$setElementOrder/conditions": order,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode node status: %w", err)
	}
	n, err := k.cfg.Client.CoreV1().Nodes().Patch(ctx, k.cfg.NodeName, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return nil, fmt.Errorf("patch node %s status: %w", k.cfg.NodeName, err)
	}
	return n, nil
}

// machineStatus reads the machine and the runtime.
func (k *Kubelet) machineStatus(ctx context.Context) (*corev1.NodeStatus, error) {
	st := &corev1.NodeStatus{}
	m, err := (procfs.FS{}).Meminfo()
	if err != nil {
		return nil, err
	}
	mem := int64(m.Total)
	st.Capacity = corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	var fs unix.Statfs_t
	os.MkdirAll(k.cfg.RootDir, 0o750)
	if unix.Statfs(k.cfg.RootDir, &fs) == nil {
		st.Capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI)
	}
	st.Allocatable = st.Capacity.DeepCopy()
	if k.cfg.NodeIP != "" {
		st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP})
	}
	st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: k.cfg.NodeName})
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		st.NodeInfo.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	}
	st.NodeInfo.OSImage = osImage()
	st.NodeInfo.OperatingSystem = goruntime.GOOS
	st.NodeInfo.Architecture = goruntime.GOARCH
	st.NodeInfo.KubeletVersion = k.cfg.Version
	st.NodeInfo.KubeProxyVersion = k.cfg.Version
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		st.NodeInfo.MachineID = strings.TrimSpace(string(b))
	}
	if v, err := k.rt.Version(ctx); err == nil {
		st.NodeInfo.ContainerRuntimeVersion = v
	}
	imgs, err := k.rt.ListImages(ctx)
	if err == nil {
		for _, img := range imgs {
			names := []string{img.Ref}
			if img.Digest != "" {
				names = append(names, repoOf(img.Ref)+"@"+img.Digest)
			}
			st.Images = append(st.Images, corev1.ContainerImage{Names: names, SizeBytes: img.Size})
		}
		sort.Slice(st.Images, func(i, j int) bool { return st.Images[i].Names[0] < st.Images[j].Names[0] })
	}
	return st, nil
}

// repoOf strips the tag of an image reference.
func repoOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// osImage is PRETTY_NAME from os-release, as the kubelet reports it.
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Unknown"
}
