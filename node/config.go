package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/servicealloc"
	"github.com/shoal-project/shoal/node/controller"
)

// Config is everything one shoal daemon needs to know. DefaultConfig fills
// the defaults; Validate says what is wrong with it.
type Config struct {
	// Name is the node's name in gossip, raft and its Node object. Default:
	// the host name.
	Name string
	// DataDir holds raft data, the cluster identity and containerd state.
	// Default /var/lib/shoal as root, else $XDG_DATA_HOME/shoal.
	DataDir string
	// BindAddr is the address every listener binds. Default 0.0.0.0.
	BindAddr string
	// AdvertiseAddr is the address other nodes use to reach this one.
	// Default: BindAddr when it is specific, else the first non-loopback
	// address of the machine.
	AdvertiseAddr string
	// GossipPort (memberlist, TCP and UDP), RaftPort (raft and
	// leader-forwarding RPC, TLS) and APIPort (HTTPS Kubernetes API).
	GossipPort int
	RaftPort   int
	APIPort    int
	// Join lists gossip addresses (HOST:PORT) of existing members; with it
	// Token must be set. Without it and without state, the node bootstraps a
	// new cluster.
	Join  []string
	Token string
	// Voters is how many raft voters the cluster keeps (3; 5 for larger
	// clusters). Other nodes are non-voters.
	Voters int
	// ContainerdSocket, when set, names an existing containerd to use instead
	// of starting one.
	ContainerdSocket string
	// VoterGrace is how long a voter must be down (dead in gossip and not
	// answering the leader) before a healthy non-voter may take its seat:
	// longer than a restart takes. Default 15s (docs/operations.md,
	// "Voters").
	VoterGrace time.Duration
	// VoterStabilization is how long a non-voter must be healthy (caught
	// up, in contact with the leader) before it may be promoted. Default 1s.
	VoterStabilization time.Duration
	// NodeEvictionTimeout is how long a node may be NotReady before its pods
	// are deleted.
	NodeEvictionTimeout time.Duration
	// RegistryMirrors maps a registry host to a mirror URL.
	RegistryMirrors map[string]string
	// RunPods makes the node run pods (containerd, the pod network, the
	// kubelet). Default true; in-process control-plane tests turn it off.
	RunPods bool
	// IngressHTTPPort and IngressHTTPSPort are where the Ingress proxy
	// listens on the node's address, on nodes that run the Service proxy
	// (80 and 443; 0 disables one). A port taken when the agent starts
	// fails its preflight check; one taken between the check and the
	// listen is logged and skipped.
	IngressHTTPPort, IngressHTTPSPort int
	// ClusterCIDR is the pod network of the whole cluster: the leader gives
	// each node a /24 of it, and nodes route to each other's. Default
	// 10.42.0.0/16. It must be the same on every node.
	ClusterCIDR netip.Prefix
	// ServiceCIDR is where Services' cluster IPs come from. Default
	// 10.43.0.0/16. It must be the same on every node.
	ServiceCIDR netip.Prefix
	// LeaveOnStop makes a stopping agent announce a gossip leave, after
	// which the leader drops it from raft at once. Off by default, as
	// consul's leave_on_terminate is for servers: a stopped agent is
	// usually restarted (an upgrade, a reboot), and a leave on every stop
	// turned a rolling restart of the voters into a chain of removals.
	LeaveOnStop bool
}

// The default pod and Service networks (k3s' own): those the node
// lifecycle controller and the API server's allocator fall back to.
var (
	DefaultClusterCIDR = netip.MustParsePrefix(controller.DefaultClusterCIDR)
	DefaultServiceCIDR = servicealloc.DefaultServiceCIDR
)

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	name, _ := os.Hostname()
	return Config{
		Name:                name,
		DataDir:             DefaultDataDir(),
		BindAddr:            "0.0.0.0",
		GossipPort:          7946,
		RaftPort:            7947,
		APIPort:             6443,
		Voters:              3,
		VoterGrace:          consensus.DefaultVoterGrace,
		VoterStabilization:  consensus.DefaultVoterStabilization,
		NodeEvictionTimeout: 10 * time.Second,
		RunPods:             true,
		IngressHTTPPort:     80,
		IngressHTTPSPort:    443,
		ClusterCIDR:         DefaultClusterCIDR,
		ServiceCIDR:         DefaultServiceCIDR,
	}
}

// DefaultDataDir is /var/lib/shoal as root, else under the user's data home.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/shoal"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "shoal")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "shoal")
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("--name: must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: must not be empty"))
	}
	if net.ParseIP(c.BindAddr) == nil {
		errs = append(errs, fmt.Errorf("--bind: %q is not an IP address", c.BindAddr))
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		errs = append(errs, fmt.Errorf("--advertise: %q is not an IP address", c.AdvertiseAddr))
	}
	for flag, p := range map[string]int{"--gossip-port": c.GossipPort, "--raft-port": c.RaftPort, "--api-port": c.APIPort} {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port", flag, p))
		}
	}
	for flag, p := range map[string]int{"--ingress-http-port": c.IngressHTTPPort, "--ingress-https-port": c.IngressHTTPSPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port (0 disables)", flag, p))
		}
	}
	if len(c.Join) > 0 && c.Token == "" {
		errs = append(errs, errors.New("--token: required with --join"))
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("--join: %q: %v", j, err))
		}
	}
	if c.VoterGrace < 0 {
		errs = append(errs, fmt.Errorf("--voter-grace: %s must not be negative", c.VoterGrace))
	}
	if c.VoterStabilization < 0 {
		errs = append(errs, fmt.Errorf("voter stabilization: %s must not be negative", c.VoterStabilization))
	}
	if c.Voters != 1 && c.Voters != 3 && c.Voters != 5 && c.Voters != 7 {
		errs = append(errs, fmt.Errorf("--voters: %d must be 1, 3, 5 or 7", c.Voters))
	}
	errs = append(errs, validateCIDRs(c.ClusterCIDR, c.ServiceCIDR)...)
	return errors.Join(errs...)
}

// validateCIDRs checks the pod and Service networks: IPv4 (the pod
// network, the proxy and the allocator know no other), in their canonical
// form, large enough (a /24 per node; a Service allocator needs at least
// a /29), and apart, or a cluster IP could be a pod's.
func validateCIDRs(cluster, service netip.Prefix) []error {
	var errs []error
	check := func(flag string, p, example netip.Prefix, longest int, why string) bool {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("%s: must be set (an IPv4 CIDR such as %s)", flag, example))
		case !p.Addr().Is4():
			errs = append(errs, fmt.Errorf("%s: %s is not IPv4; only IPv4 networks are supported", flag, p))
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("%s: %s has host bits set; did you mean %s?", flag, p, p.Masked()))
		case p.Bits() > longest:
			errs = append(errs, fmt.Errorf("%s: %s is too small: %s, so at most a /%d", flag, p, why, longest))
		default:
			return true
		}
		return false
	}
	okCluster := check("--cluster-cidr", cluster, DefaultClusterCIDR, 24, "each node gets a /24 of it")
	okService := check("--service-cidr", service, DefaultServiceCIDR, 29, "the Service IP allocator needs at least 8 addresses")
	if okCluster && okService && cluster.Overlaps(service) {
		errs = append(errs, fmt.Errorf("--service-cidr: %s overlaps --cluster-cidr %s; they must be apart", service, cluster))
	}
	return errs
}
