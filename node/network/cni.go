package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/shoal-project/shoal/runtime"
)

// DefaultBridge is the pod bridge of a node, in its network namespace.
const DefaultBridge = "shoal0"

// DefaultPluginDirs are where Debian and upstream install CNI plugins.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// CNIConfig configures the pod network of one node.
type CNIConfig struct {
	// PodCIDR is the node's pod subnet, e.g. 10.42.3.0/24; the bridge gets
	// its first address and pods the others.
	PodCIDR string
	// Bridge names the node's bridge (default "shoal0").
	Bridge string
	// StateDir keeps the CNI cache, IPAM allocations and the written
	// configuration.
	StateDir string
	// PluginDirs are searched for the plugins (default DefaultPluginDirs).
	PluginDirs []string
	// MTU of the pod interfaces; 0 lets the plugin choose.
	MTU int
}

// CNI attaches sandboxes to the node's bridge through the standard bridge
// and host-local plugins.
type CNI struct {
	cfg  CNIConfig
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

var _ runtime.NetworkPlugin = (*CNI)(nil)

// NewCNI writes the node's CNI configuration and checks the plugins exist.
func NewCNI(cfg CNIConfig) (*CNI, error) {
	if _, _, err := net.ParseCIDR(cfg.PodCIDR); err != nil {
		return nil, fmt.Errorf("pod network: pod CIDR %q: %w", cfg.PodCIDR, err)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = DefaultPluginDirs
	}
	for _, p := range []string{"bridge", "host-local"} {
		if !pluginExists(cfg.PluginDirs, p) {
			return nil, fmt.Errorf("pod network: CNI plugin %q not found in %v (install containernetworking-plugins)", p, cfg.PluginDirs)
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	conf, err := bridgeConfList(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "10-shoal.conflist"), conf, 0o600); err != nil {
		return nil, fmt.Errorf("pod network: write CNI config: %w", err)
	}
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return nil, fmt.Errorf("pod network: parse CNI config: %w", err)
	}
	return &CNI{
		cfg:  cfg,
		cni:  libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.StateDir, "cache"), nil),
		list: list,
	}, nil
}

// bridgeConfList is the node's network: a bridge that is the pods' gateway,
// host-local addresses from the pod CIDR, hairpin so a pod reaches itself
// through a Service.
func bridgeConfList(cfg CNIConfig) ([]byte, error) {
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      cfg.Bridge,
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": cfg.PodCIDR}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(cfg.StateDir, "ipam"),
		},
	}
	if cfg.MTU > 0 {
		bridge["mtu"] = cfg.MTU
	}
	return json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "shoal",
		"plugins":    []any{bridge},
	})
}

func pluginExists(dirs []string, name string) bool {
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && !st.IsDir() {
			return true
		}
	}
	return false
}

func (c *CNI) runtimeConf(id, netnsPath string, pod runtime.PodRef, ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netnsPath,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", id},
			{"K8S_POD_UID", pod.UID},
		},
	}
}

// Setup brings up eth0 in the sandbox's namespace and returns the pod's
// address.
func (c *CNI) Setup(ctx context.Context, id, netnsPath string, pod runtime.PodRef, ports []runtime.PortMapping) (string, error) {
	// No lock: the plugins serialise what must be (host-local locks its
	// allocation store), and pods start in parallel. The runtime brings lo
	// up when it makes the namespace, so only eth0 is left to the plugins.
	res, err := c.cni.AddNetworkList(ctx, c.list, c.runtimeConf(id, netnsPath, pod, "eth0"))
	if err != nil {
		return "", fmt.Errorf("pod network: attach %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return "", fmt.Errorf("pod network: result for %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			return ip.Address.IP.String(), nil
		}
	}
	return "", fmt.Errorf("pod network: %s/%s got no IPv4 address", pod.Namespace, pod.Name)
}

// Teardown detaches the sandbox and releases its address. It is
// idempotent: a namespace already gone still releases the address.
func (c *CNI) Teardown(ctx context.Context, id, netnsPath string, pod runtime.PodRef) error {
	if netnsPath != "" {
		if _, err := os.Stat(netnsPath); errors.Is(err, os.ErrNotExist) {
			netnsPath = ""
		}
	}
	if err := c.cni.DelNetworkList(ctx, c.list, c.runtimeConf(id, netnsPath, pod, "eth0")); err != nil {
		return fmt.Errorf("pod network: detach %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
