// Package runtime is how a shoal node runs pods: the Runtime interface (a
// small, CRI-like contract: images, pod sandboxes, containers, logs, exec,
// stats), its containerd implementation in runtime/containerd, and a fake
// with fault knobs in runtime/fake for control-plane tests.
//
// A pod is a sandbox (a network namespace made by a NetworkPlugin, plus the
// pod's hostname and DNS settings) that every container of the pod joins.
// runtime knows nothing of the API, raft or HTTP: the kubelet turns pod
// objects into SandboxConfig and ContainerConfig.
package runtime
