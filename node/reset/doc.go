// Package reset removes from a host everything a shoal agent made there
// (`shoal reset`), once the agent has stopped. What an agent makes, and
// where this package finds it:
//
//   - containerd: its containers, tasks and images in the node's containerd
//     namespace ("shoal-<node>"), in its own containerd (config, root and
//     state under DATA/containerd) or the one --containerd named. Purged
//     through containerd's API; the agent's own containerd is started for
//     the purpose when it is not running.
//   - processes: the agent's containerd ("containerd --config
//     DATA/containerd/config.toml"), a containerd-shim-runc-v2 per pod
//     container ("-namespace shoal-<node> ... -address SOCKET"), and the
//     containers' processes (cgroup "/shoal-<node>/<id>"). Whatever the
//     purge left is killed.
//   - shim files: runc's state in /run/containerd/runc/shoal-<node> and the
//     shims' sockets /run/containerd/s/<sha256(SOCKET/NS/ID)>.
//   - mounts, all under DATA: pods' network namespaces
//     (DATA/pods/netns/<id>, nsfs bind mounts), containers' root
//     filesystems (overlay, DATA/containerd/state/...), memory-backed
//     volumes (tmpfs, DATA/kubelet/pods/<uid>/volumes/...). Unmounted
//     deepest first.
//   - cgroups: /sys/fs/cgroup/shoal-<node> (v2) or
//     /sys/fs/cgroup/<controller>/shoal-<node> (v1), which runc makes for
//     the containers and leaves behind.
//   - network, in the namespace reset runs in: the pod bridge shoal0, the
//     Service proxy's nftables table "ip shoal", routes tagged proto 83
//     (network.RemoveHostNetwork). The pods' veths go with their network
//     namespaces. net.ipv4.ip_forward stays as it is.
//   - the data dir itself (raft log, cluster identity, CNI state, logs),
//     which the caller removes once asked (Host.RemoveDataDir).
//
// Every step finds what is there and removes it, so a second run finds
// nothing and says so. Run refuses while an agent holds the data dir.
//
// Usage:
//
//	h := reset.Host{DataDir: "/var/lib/shoal", Namespace: "shoal-node-a", Socket: "/var/lib/shoal/containerd/containerd.sock", OwnContainerd: true}
//	removed, err := h.Run(ctx)        // one line per thing removed
//	removed2, err := h.RemoveDataDir() // after the user said yes
package reset
