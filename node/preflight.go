package node

import (
	"errors"
	"fmt"
	"os"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/network"
	"github.com/shoal-project/shoal/node/preflight"
)

// cniPlugins are the CNI plugins the pod network runs (network.NewCNI's
// configuration: a bridge, host-local addresses).
var cniPlugins = []string{"bridge", "host-local"}

// PreflightChecks are the checks `shoal agent` runs before it starts, for
// cfg (docs/operations.md, "Preflight checks"). fix lets a check repair
// what it can (IP forwarding); `shoal agent --check` only reports.
func PreflightChecks(cfg Config, fix bool) []preflight.Check {
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = advertiseFor(cfg.BindAddr)
	}
	var checks []preflight.Check
	if cfg.RunPods {
		checks = append(checks, preflight.Cgroups(preflight.MountInfo))
		path := os.Getenv("PATH")
		if cfg.ContainerdSocket == "" {
			// The node's own containerd runs the default runc shim, which
			// runs `runc`.
			checks = append(checks, preflight.OnPath("container-runtime", path,
				"install Debian's containerd and runc, or pass --containerd SOCKET of a containerd you run",
				[]string{"containerd"}, []string{"containerd-shim-runc-v2"}, []string{"runc"}))
		} else {
			// An existing containerd's own configuration picks the OCI
			// runtime.
			checks = append(checks, preflight.OnPath("container-runtime", path,
				"install runc (Debian's runc) or crun", []string{"runc", "crun"}))
		}
		checks = append(checks, preflight.CNIPlugins(network.DefaultPluginDirs, cniPlugins))
	}
	ports := []preflight.Port{
		{Proto: "tcp", Addr: cfg.BindAddr, Port: cfg.GossipPort, What: "gossip", Flag: "--gossip-port"},
		{Proto: "udp", Addr: cfg.BindAddr, Port: cfg.GossipPort, What: "gossip", Flag: "--gossip-port"},
		{Proto: "tcp", Addr: cfg.BindAddr, Port: cfg.RaftPort, What: "raft", Flag: "--raft-port"},
		{Proto: "tcp", Addr: cfg.BindAddr, Port: cfg.APIPort, What: "the Kubernetes API", Flag: "--api-port"},
	}
	if cfg.RunPods {
		ports = append(ports,
			preflight.Port{Proto: "udp", Addr: advertise, Port: 53, What: "the cluster DNS pods use"},
			preflight.Port{Proto: "tcp", Addr: advertise, Port: 53, What: "the cluster DNS pods use"})
		if cfg.IngressHTTPPort != 0 {
			ports = append(ports, preflight.Port{Proto: "tcp", Addr: advertise, Port: cfg.IngressHTTPPort,
				What: "the Ingress proxy (HTTP)", Flag: "--ingress-http-port (0 disables it)"})
		}
		if cfg.IngressHTTPSPort != 0 {
			ports = append(ports, preflight.Port{Proto: "tcp", Addr: advertise, Port: cfg.IngressHTTPSPort,
				What: "the Ingress proxy (HTTPS)", Flag: "--ingress-https-port (0 disables it)"})
		}
	}
	for _, p := range ports {
		checks = append(checks, preflight.PortFree(p))
	}
	if cfg.RunPods {
		checks = append(checks, preflight.IPForward(preflight.IPForwardPath, fix))
	}
	checks = append(checks, preflight.DataDir(cfg.DataDir, func() error { return dataDirFree(cfg.DataDir) }))
	return checks
}

// dataDirFree fails when another agent runs on dataDir: it holds the lock
// of the raft log.
func dataDirFree(dataDir string) error {
	err := consensus.CheckRaftLogFree(raftDir(dataDir))
	if errors.Is(err, consensus.ErrRaftInUse) {
		return fmt.Errorf("%s is in use by another shoal agent (it holds the raft log's lock): stop that agent first, or choose another --data-dir", dataDir)
	}
	return err
}

// Preflight runs PreflightChecks(cfg, fix).
func Preflight(cfg Config, fix bool) []preflight.Result {
	return preflight.Run(PreflightChecks(cfg, fix))
}
