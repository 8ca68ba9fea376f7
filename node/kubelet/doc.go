// Package kubelet runs the pods bound to one node. It runs on every node,
// leader or not: it reads its pods (spec.nodeName == this node, by the
// pods-by-node index), and the configmaps, secrets and services they use,
// from the node's shared cache of the local replica (node/follow: each
// object decoded once, for every part of the node), and writes back
// through the API (pod status, events, the final delete of a pod it has
// stopped). The containers themselves run through runtime.
//
// The loop is level-triggered: once the caches hold their first list, Run
// adds its handlers to the pods, configmaps and secrets caches (a handler
// added late is shown every cached object), makes a full pass (every pod
// of this node, every sandbox the runtime holds, every pod directory on
// disk), then follows the caches' changes with a full pass every
// Tuning.Resync. A cache that re-lists (its store watch closed: overflow,
// snapshot restore) hands the handlers what changed meanwhile. Each pod
// uid has its own worker goroutine, so a slow image pull or a long stop
// grace holds up only its own pod; a worker also re-checks its containers
// every Tuning.PodSync, which is how exits are noticed. A failed sync is
// retried with a back-off (Tuning.SyncBackOff) that only a change of the
// pod cuts short, and its error is logged when it changes (syncretry.go).
//
// Beside the pods, the kubelet reports its node: capacity, addresses,
// images and the pressure conditions behind the eviction thresholds
// (nodestatus.go, conditions.go, eviction.go), and renews the node lease
// (lease.go). Events go through client-go's recorder (node/events), which
// aggregates repeats into count and lastTimestamp (events.go).
//
// A pod worker's life:
//
//	        start (pod event, full pass, sandbox or pod dir found)
//	                           |
//	                           v
//	+---------------------> syncing: volumes, sandbox (RunSandbox is
//	|  wake / PodSync tick     |     idempotent: adopts after a restart),
//	+--------------------------+     init containers in order, app
//	                           |     containers, restarts with back-off,
//	                           |     probes, status when it changed
//	      phase Succeeded/Failed | deletionTimestamp set      | pod gone from
//	               v             v                            | the store, or
//	           finished      terminating: SIGTERM all         | not ours (orphan)
//	     (sandbox stopped,   containers, wait the grace,      v
//	      containers kept    SIGKILL; StopSandbox,        tearing down: the
//	      for their logs)    RemoveSandbox, volumes;      same, with a 2s
//	           |             delete pod (grace 0, uid     grace, no API call
//	           |             precondition)                    |
//	           |                  |                           v
//	           +------------------+--> pod gone from store --> done (worker exits)
//
// Container states come from the runtime (ListContainers of the sandbox:
// the newest attempt of each container is its current state, the one before
// its lastState, older ones are removed); the restart count is the attempt
// number. What the runtime cannot tell (why a container waits:
// ContainerCreating, ErrImagePull, ImagePullBackOff, CrashLoopBackOff,
// CreateContainerConfigError; probe results) the worker keeps in memory.
// Status is computed by a pure function (computeStatus) and written with
// UpdateStatus only when it differs from the stored one.
//
// Usage:
//
//	k := kubelet.New(kubelet.Config{NodeName: "node-a", Cache: shared, Client: cs,
//		Runtime: rt, RootDir: "/var/lib/shoal/kubelet", ClusterDNS: []string{"10.0.0.1"},
//		Logger: log.With("component", "kubelet")})
//	go k.Run(ctx)
//	<-k.Ready()
//	id, err := k.ContainerID("default", "web-1", "web", false) // for logs and exec
package kubelet
