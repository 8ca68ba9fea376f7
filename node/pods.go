package node

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"

	corev1 "k8s.io/api/core/v1"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/internal/version"
	"github.com/shoal-project/shoal/node/follow"
	"github.com/shoal-project/shoal/node/kubelet"
	"github.com/shoal-project/shoal/node/network"
	"github.com/shoal-project/shoal/node/streaming"
	"github.com/shoal-project/shoal/runtime"
	ctrd "github.com/shoal-project/shoal/runtime/containerd"
)

// ContainerdNamespace is a node's containerd namespace: nodes sharing
// one containerd keep their images and containers apart.
func ContainerdNamespace(nodeName string) string {
	return "shoal-" + regexp.MustCompile(`[^a-zA-Z0-9._-]`).ReplaceAllString(nodeName, "-")
}

// containerdSocket is the socket the node uses: the one given, or its own
// supervised daemon's.
func (n *Node) containerdSocket() string {
	if n.cfg.ContainerdSocket != "" {
		return n.cfg.ContainerdSocket
	}
	return filepath.Join(n.cfg.DataDir, "containerd", "containerd.sock")
}

// imageFsDir is where the node's own containerd keeps its images, for the
// imagefs eviction signals; "" (the kubelet's filesystem) for a containerd
// the node does not run.
func (n *Node) imageFsDir() string {
	if n.cfg.ContainerdSocket != "" {
		return ""
	}
	return filepath.Join(n.cfg.DataDir, "containerd", "root")
}

// runContainerd supervises the node's private containerd until ctx ends.
// It returns at once when the node uses an existing containerd.
func (n *Node) runContainerd(ctx context.Context, ready chan<- error) error {
	if n.cfg.ContainerdSocket != "" {
		ready <- nil
		<-ctx.Done()
		return nil
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		ready <- fmt.Errorf("containerd not found on PATH (install Debian's containerd and runc, or pass --containerd SOCKET): %w", err)
		<-ctx.Done()
		return nil
	}
	sup := ctrd.NewSupervisor(filepath.Join(n.cfg.DataDir, "containerd"), ctrd.WithSupervisorLogger(n.log.With("component", "containerd")))
	go func() {
		select {
		case <-sup.Ready():
			ready <- nil
		case <-ctx.Done():
		}
	}()
	return sup.Run(ctx)
}

// waitPodCIDR waits until the leader has given this node a pod CIDR,
// woken by the changes of the node's shared follower of Nodes.
func (n *Node) waitPodCIDR(ctx context.Context) (string, error) {
	nodes := follow.For[corev1.Node](n.cache, "nodes")
	changed := make(chan struct{}, 1)
	wake := func(node *corev1.Node) {
		if node.Name == n.cfg.Name {
			select {
			case changed <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
	// Added before the first look, so that no change between the look and
	// the wait is missed.
	remove := nodes.AddHandler(follow.Handler[corev1.Node]{Add: wake, Update: func(_, node *corev1.Node) { wake(node) }})
	defer remove()
	for {
		if node, ok := nodes.Get("", n.cfg.Name); ok && node.Spec.PodCIDR != "" {
			return node.Spec.PodCIDR, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-changed:
		}
	}
}

// newRuntime connects the container runtime, with the pod network on the
// node's pod CIDR.
func (n *Node) newRuntime(ctx context.Context, podCIDR string) (runtime.Runtime, error) {
	cni, err := network.NewCNI(network.CNIConfig{PodCIDR: podCIDR, StateDir: filepath.Join(n.cfg.DataDir, "cni")})
	if err != nil {
		return nil, err
	}
	rt, err := ctrd.New(ctx, ctrd.Options{
		Socket:    n.containerdSocket(),
		Namespace: ContainerdNamespace(n.cfg.Name),
		StateDir:  filepath.Join(n.cfg.DataDir, "pods"),
		Network:   cni,
		Mirrors:   n.cfg.RegistryMirrors,
		Logger:    n.log.With("component", "runtime"),
	})
	if err != nil {
		return nil, fmt.Errorf("connect containerd: %w", err)
	}
	return rt, nil
}

// runPods runs the node's pod side once the leader has given the node a
// pod CIDR: containerd (its own, supervised, unless --containerd names
// one), the pod network, the runtime and the kubelet, and it makes log and
// exec of this node's pods available to the streaming proxy.
func (n *Node) runPods(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	ready := make(chan error, 1)
	g.Go(func() error { return n.runContainerd(ctx, ready) })
	select {
	case err := <-ready:
		if err != nil {
			n.log.Error("this node cannot run pods", "error", err)
			return g.Wait()
		}
	case <-ctx.Done():
		return g.Wait()
	}
	podCIDR, err := n.waitPodCIDR(ctx)
	if err != nil {
		return g.Wait()
	}
	rt, err := n.newRuntime(ctx, podCIDR)
	if err != nil {
		n.log.Error("this node cannot run pods", "error", err)
		return g.Wait()
	}
	defer rt.Close()
	n.log.Info("container runtime connected", "pod_cidr", podCIDR, "containerd", n.containerdSocket())
	client, err := n.selfClient()
	if err != nil {
		return err
	}
	var clusterDNS []string
	if err := n.runServices(ctx, g, podCIDR); err != nil {
		n.log.Error("this node cannot serve Services", "error", err)
	} else {
		clusterDNS = []string{n.cfg.AdvertiseAddr}
	}
	k := kubelet.New(kubelet.Config{
		NodeName: n.cfg.Name, Cache: n.cache, Client: client, Runtime: rt, ClusterDNS: clusterDNS,
		RootDir: filepath.Join(n.cfg.DataDir, "kubelet"), ClusterDomain: "cluster.local",
		NodeIP: n.cfg.AdvertiseAddr, Version: version.Version,
		ImageFsDir: n.imageFsDir(),
		Logger:     n.log.With("component", "kubelet"), Metrics: n.metrics,
	})
	n.nodeStreams.set(streaming.NewNodeServer(streaming.NodeServerConfig{
		Runtime: rt, Locate: k.ContainerID, Logger: n.log.With("component", "streaming"),
	}))
	n.runStats(ctx, g, rt)
	g.Go(func() error { return k.Run(ctx) })
	return g.Wait()
}
