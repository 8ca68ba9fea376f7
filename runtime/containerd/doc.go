// Package containerd implements runtime.Runtime on containerd (1.6 or
// later) through its Go client, and supervises a private containerd daemon.
//
// Model:
//
//   - Images are pulled with a docker resolver whose hosts map mirrored
//     registries to their mirrors (plain HTTP allowed), and unpacked for the
//     overlayfs snapshotter (native when overlay is unavailable). Archives
//     (OCI or docker) are loaded with ImportImages.
//   - A sandbox is a network namespace this package makes itself (unshare on
//     a locked thread, bind-mounted to StateDir/netns/<id>, loopback up),
//     handed to the NetworkPlugin, plus hostname, hosts and resolv.conf
//     files; its metadata is StateDir/sandboxes/<id>/sandbox.json.
//   - A container is a containerd container and task joined to the
//     sandbox's namespace; its metadata (sandbox, name, attempt, labels,
//     start and exit) is in containerd labels, so a restarted shoal finds
//     everything again and re-attaches to the output of running tasks.
//   - Output goes to StateDir/sandboxes/<id>/logs/<container>.log in the CRI
//     format (timestamp, stream, full/partial tag), rotated at 10 MiB.
//   - An exit is recorded (exit code, reason "Completed", "Error" or
//     "OOMKilled" from the cgroup's oom_kill counter) and the task deleted.
//
// Usage:
//
//	sup := containerd.NewSupervisor(filepath.Join(dataDir, "containerd"))
//	go sup.Run(ctx)
//	<-sup.Ready()
//	rt, err := containerd.New(ctx, containerd.Options{
//		Socket:    sup.Socket(),
//		Namespace: "shoal-" + nodeName,
//		StateDir:  filepath.Join(dataDir, "pods"),
//		Network:   cni,
//		Mirrors:   map[string]string{"gcr.io": "http://10.0.0.5:5000"},
//	})
package containerd
