package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors; implementations wrap them so errors.Is works.
var (
	// ErrNotFound: no such image, sandbox or container.
	ErrNotFound = errors.New("not found")
	// ErrImagePull: an image could not be pulled (the message says why, in
	// the registry's words when it gave any).
	ErrImagePull = errors.New("image pull failed")
	// ErrNotRunning: exec into, or signal, a container that is not running.
	ErrNotRunning = errors.New("container is not running")
)

// Runtime runs pods on one node. Every method is safe for concurrent use;
// methods block until done or ctx ends.
type Runtime interface {
	ImageService
	// RunSandbox creates the pod's sandbox: its network namespace (through
	// the NetworkPlugin), hostname, /etc/hosts and /etc/resolv.conf. It is
	// idempotent for the same SandboxConfig.UID.
	RunSandbox(ctx context.Context, cfg SandboxConfig) (*Sandbox, error)
	// StopSandbox stops every container of the sandbox (SIGKILL) and tears
	// its network down (CNI DEL, netns removed). Idempotent.
	StopSandbox(ctx context.Context, id string) error
	// RemoveSandbox removes a stopped sandbox and its containers and state.
	// Idempotent: a missing sandbox is not an error.
	RemoveSandbox(ctx context.Context, id string) error
	// ListSandboxes lists the sandboxes of this node (after a restart too).
	ListSandboxes(ctx context.Context) ([]*Sandbox, error)

	// CreateContainer creates (does not start) a container in a sandbox.
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal), waits up to
	// grace, then SIGKILL; it returns once the process is gone.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a stopped container; its logs stay until the
	// sandbox is removed (so `logs --previous` works).
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists the containers of a sandbox ("" = all).
	ListContainers(ctx context.Context, sandboxID string) ([]*ContainerStatus, error)
	// ContainerStatus reports one container.
	ContainerStatus(ctx context.Context, id string) (*ContainerStatus, error)

	// Exec runs cmd in a running container, wiring the streams; it returns
	// the command's exit code.
	Exec(ctx context.Context, id string, cmd []string, s ExecStreams) (int, error)
	// Logs writes a container's output to w as the options ask; with Follow
	// it keeps writing until ctx ends or the container exits.
	Logs(ctx context.Context, id string, opts LogOptions, w io.Writer) error
	// ContainerStats reports cgroup figures of a running container.
	ContainerStats(ctx context.Context, id string) (*ContainerStats, error)
	// Version names the runtime, e.g. "containerd://1.6.20".
	Version(ctx context.Context) (string, error)
	// Close releases the client; containers keep running.
	Close() error
}

// ImageService pulls, imports and lists images.
type ImageService interface {
	// PullImage pulls ref (with auth when given), honouring the registry
	// mirrors the runtime was configured with. Errors wrap ErrImagePull.
	PullImage(ctx context.Context, ref string, auth *RegistryAuth) (*Image, error)
	// ImageStatus reports a local image, or ErrNotFound.
	ImageStatus(ctx context.Context, ref string) (*Image, error)
	// ListImages lists the local images.
	ListImages(ctx context.Context) ([]*Image, error)
	// ImportImages loads an OCI or docker archive.
	ImportImages(ctx context.Context, r io.Reader) ([]*Image, error)
}

// RegistryAuth are credentials for one registry (from imagePullSecrets).
type RegistryAuth struct {
	Username, Password string
	// Auth is base64(user:password) as in a docker config, when that is
	// what the secret holds.
	Auth string
}

// Image is a local image.
type Image struct {
	// Ref is the normalized reference, e.g. docker.io/library/busybox:1.36.
	Ref string
	// ID is the image's config digest ("sha256:...") and Digest its
	// manifest digest; the kubelet reports ID@Digest as imageID.
	ID, Digest string
	Size       int64
}

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	// UID is the pod's uid; it names the sandbox together with the pod name.
	UID, Namespace, Name string
	Hostname             string
	// DNS goes into the sandbox's /etc/resolv.conf; nil keeps the host's.
	DNS *DNSConfig
	// HostNetwork runs the pod in the node's network namespace.
	HostNetwork bool
	// Labels are recorded on the sandbox (the kubelet finds its pods by them
	// after a restart).
	Labels map[string]string
	// PortMappings are hostPort mappings.
	PortMappings []PortMapping
}

// DNSConfig is a resolv.conf.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// PortMapping maps a host port to a container port.
type PortMapping struct {
	Protocol                string // TCP, UDP, SCTP
	ContainerPort, HostPort int32
	HostIP                  string
}

// Sandbox is a running (or stopped) pod sandbox.
type Sandbox struct {
	ID                   string
	UID, Namespace, Name string
	// IP is the pod's address on the pod network ("" with HostNetwork).
	IP string
	// NetNS is the network namespace's path.
	NetNS   string
	Labels  map[string]string
	Created time.Time
	Ready   bool
}

// ContainerConfig describes one container of a pod.
type ContainerConfig struct {
	// Name is the container's name in the pod; Attempt counts restarts.
	Name    string
	Attempt uint32
	Image   string
	// Command replaces the image's entrypoint, Args its cmd (Kubernetes'
	// semantics); WorkingDir overrides the image's.
	Command, Args []string
	WorkingDir    string
	// Env is the container's environment, already resolved (NAME=value).
	Env []string
	// Mounts are bind mounts into the container (volumes, prepared by the
	// kubelet on the host).
	Mounts []Mount
	// Resources are the container's cgroup limits.
	Resources Resources
	TTY       bool
	Stdin     bool
	// Labels are recorded on the container.
	Labels map[string]string
}

// Mount is a bind mount.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Resources are cgroup limits; zero means unlimited.
type Resources struct {
	// MemoryLimitBytes is the memory limit (exceeding it OOM-kills).
	MemoryLimitBytes int64
	// CPUQuota/CPUPeriod (microseconds) limit CPU time; CPUShares weights it.
	CPUQuota, CPUPeriod int64
	CPUShares           uint64
}

// ContainerState is where a container is in its life.
type ContainerState string

const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown"
)

// ContainerStatus reports one container.
type ContainerStatus struct {
	ID, SandboxID, Name string
	Attempt             uint32
	Image, ImageID      string
	State               ContainerState
	CreatedAt           time.Time
	StartedAt           time.Time
	FinishedAt          time.Time
	ExitCode            int32
	// Reason is why it exited: "Completed", "Error" or "OOMKilled".
	Reason  string
	Message string
	Labels  map[string]string
}

// ExecStreams are the streams of an exec; nil streams are not attached.
type ExecStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	// Resize delivers terminal sizes (TTY only); closed when done.
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint16 }

// LogOptions select what Logs writes, with Kubernetes' meaning.
type LogOptions struct {
	Follow     bool
	TailLines  *int64
	Since      time.Time
	Timestamps bool
	LimitBytes *int64
}

// ContainerStats are a running container's cgroup figures.
type ContainerStats struct {
	Timestamp time.Time
	// CPUUsageNanos is cumulative CPU time.
	CPUUsageNanos uint64
	// MemoryWorkingSetBytes is usage minus inactive file cache.
	MemoryWorkingSetBytes uint64
}

// NetworkPlugin sets up and tears down a sandbox's network namespace; the
// CNI implementation lives in node/network.
type NetworkPlugin interface {
	// Setup attaches the namespace at netnsPath to the pod network and
	// returns the pod's IP.
	Setup(ctx context.Context, id, netnsPath string, pod PodRef, ports []PortMapping) (ip string, err error)
	// Teardown detaches it and releases its address. Idempotent.
	Teardown(ctx context.Context, id, netnsPath string, pod PodRef) error
}

// PodRef names a pod for the network plugin.
type PodRef struct{ Namespace, Name, UID string }
