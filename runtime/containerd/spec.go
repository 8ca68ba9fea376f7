package containerd

import (
	"path/filepath"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/runtime"
)

// specOpts builds a container's OCI spec: the image's config, then
// Kubernetes' command/args rules, env, mounts, the sandbox's namespace and
// files, and the cgroup limits.
func (r *Runtime) specOpts(img containerd.Image, sb *sandboxRecord, cfg runtime.ContainerConfig) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if len(cfg.Command) > 0 {
		// Command replaces the entrypoint and drops the image's cmd.
		opts = append(opts, oci.WithImageConfig(img), oci.WithProcessArgs(append(append([]string{}, cfg.Command...), cfg.Args...)...))
	} else {
		// Args (if any) replace the image's cmd after its entrypoint.
		opts = append(opts, oci.WithImageConfigArgs(img, cfg.Args))
	}
	if len(cfg.Env) > 0 {
		opts = append(opts, oci.WithEnv(cfg.Env))
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	if cfg.TTY {
		opts = append(opts, oci.WithTTY)
	}

	dir := r.sandboxDir(sb.ID)
	mounts := []specs.Mount{
		// The container's own cgroups, read-only, as Kubernetes gives them.
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		bindMount(filepath.Join(dir, "hosts"), "/etc/hosts", false),
		bindMount(filepath.Join(dir, "resolv.conf"), "/etc/resolv.conf", false),
		bindMount(filepath.Join(dir, "hostname"), "/etc/hostname", false),
	}
	for _, m := range cfg.Mounts {
		mounts = append(mounts, bindMount(m.HostPath, m.ContainerPath, m.ReadOnly))
	}
	opts = append(opts, oci.WithMounts(mounts), oci.WithHostname(sb.Hostname))

	if sb.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	} else {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNS}))
	}

	res := cfg.Resources
	if res.MemoryLimitBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimitBytes)))
	}
	if res.CPUQuota > 0 {
		period := uint64(res.CPUPeriod)
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, period))
	}
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(res.CPUShares))
	}
	return opts
}

func bindMount(src, dst string, ro bool) specs.Mount {
	opts := []string{"rbind", "rprivate", "rw"}
	if ro {
		opts[2] = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: opts}
}
