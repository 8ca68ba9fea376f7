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
)

// maxPods is how many pods a node takes, Kubernetes' default.
const maxPods = 110

// nodeStatusPeriod is how often the kubelet re-reads the machine.
const nodeStatusPeriod = 10 * time.Second

// reportNodeStatus patches what only the node itself knows into its Node
// status: capacity and allocatable (cpu, memory, pods, ephemeral-storage),
// addresses, nodeInfo (kernel, OS image, container runtime, kubelet
// version) and its images. The leader owns the Ready condition (from
// gossip); a strategic merge patch leaves it alone.
func (k *Kubelet) reportNodeStatus(ctx context.Context) {
	t := time.NewTicker(nodeStatusPeriod)
	defer t.Stop()
	var last *corev1.NodeStatus
	for {
		st, err := k.machineStatus(ctx)
		if err != nil {
			k.log.Warn("read node status", "error", err)
		} else if last == nil || !equality.Semantic.DeepEqual(*st, *last) {
			if err := k.patchNodeStatus(ctx, st); err != nil {
				if ctx.Err() == nil {
					k.log.Warn("write node status", "error", err)
				}
			} else {
				last = st
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Kubelet) patchNodeStatus(ctx context.Context, st *corev1.NodeStatus) error {
	body, err := json.Marshal(map[string]any{"status": map[string]any{
		"capacity": st.Capacity, "allocatable": st.Allocatable, "addresses": st.Addresses,
		"nodeInfo": st.NodeInfo, "images": st.Images,
	}})
	if err != nil {
		return err
	}
	_, err = k.cfg.Client.CoreV1().Nodes().Patch(ctx, k.cfg.NodeName, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}

// machineStatus reads the machine and the runtime.
func (k *Kubelet) machineStatus(ctx context.Context) (*corev1.NodeStatus, error) {
	st := &corev1.NodeStatus{}
	mem, err := memTotal()
	if err != nil {
		return nil, err
	}
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

func memTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
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
