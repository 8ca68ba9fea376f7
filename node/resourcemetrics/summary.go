package resourcemetrics

import "time"

// SummaryPath is where a node serves its Summary (GET, JSON), under the
// API's authenticated paths.
const SummaryPath = "/shoal/v1/node/stats/summary"

// Summary is what one node reports: its own figures and those of the
// containers of its running pods. Field names follow the kubelet's
// stats/v1alpha1 Summary; CPU figures also carry the window their rate
// was measured over, which the kubelet leaves to metrics-server.
type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats are the machine's figures as this node sees them.
type NodeStats struct {
	NodeName string        `json:"nodeName"`
	CPU      *CPUStats     `json:"cpu,omitempty"`
	Memory   *MemoryStats  `json:"memory,omitempty"`
	Network  *NetworkStats `json:"network,omitempty"`
	// Fs is the filesystem that holds the node's data directory.
	Fs *FsStats `json:"fs,omitempty"`
}

// PodStats are the figures of one pod's running containers.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	Containers []ContainerStats `json:"containers"`
}

// PodReference names a pod.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// ContainerStats are one container's figures.
type ContainerStats struct {
	Name   string       `json:"name"`
	CPU    *CPUStats    `json:"cpu,omitempty"`
	Memory *MemoryStats `json:"memory,omitempty"`
}

// CPUStats are CPU figures at Time. UsageNanoCores is the average rate
// over [Time-Window, Time] (Window in nanoseconds in JSON); it is absent
// until two samples far enough apart exist. UsageCoreNanoSeconds is the
// cumulative CPU time.
type CPUStats struct {
	Time                 time.Time     `json:"time"`
	Window               time.Duration `json:"window,omitempty"`
	UsageNanoCores       *uint64       `json:"usageNanoCores,omitempty"`
	UsageCoreNanoSeconds *uint64       `json:"usageCoreNanoSeconds,omitempty"`
}

// MemoryStats are memory figures at Time. WorkingSetBytes is what
// Kubernetes reports as memory usage.
type MemoryStats struct {
	Time            time.Time `json:"time"`
	AvailableBytes  *uint64   `json:"availableBytes,omitempty"`
	UsageBytes      *uint64   `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64   `json:"workingSetBytes,omitempty"`
}

// NetworkStats are cumulative counters of the node's network namespace:
// totals over every interface but loopback, and each interface.
type NetworkStats struct {
	Time time.Time `json:"time"`
	InterfaceStats
	Interfaces []InterfaceStats `json:"interfaces,omitempty"`
}

// InterfaceStats are one interface's cumulative counters (or their sum).
type InterfaceStats struct {
	Name     string `json:"name,omitempty"`
	RxBytes  uint64 `json:"rxBytes"`
	RxErrors uint64 `json:"rxErrors"`
	TxBytes  uint64 `json:"txBytes"`
	TxErrors uint64 `json:"txErrors"`
}

// FsStats are a filesystem's figures.
type FsStats struct {
	Time           time.Time `json:"time"`
	CapacityBytes  uint64    `json:"capacityBytes"`
	UsedBytes      uint64    `json:"usedBytes"`
	AvailableBytes uint64    `json:"availableBytes"`
	Inodes         uint64    `json:"inodes"`
	InodesFree     uint64    `json:"inodesFree"`
}
