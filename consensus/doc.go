// Package consensus is shoal's replicated object store: a hashicorp/raft
// group whose FSM is an in-memory store of Kubernetes-style objects.
//
// # Model
//
// Every API object is an Object (resource, namespace, name, raw JSON) held
// in a go-memdb database inside a Store. The only way to change the store
// is a Command applied at a raft index (Store.Apply): create, update
// (main resource or status) and delete, with their preconditions checked
// inside the FSM so every replica decides the same. An object's
// ResourceVersion is the raft index of its last change, so resourceVersions
// are totally ordered across all resources.
//
// Objects may also hold claims (Command.Claims): unique names such as a
// Service's cluster IP, which the FSM gives to one object at a time
// (ErrClaimed otherwise) and frees when the object is removed, so
// allocators need no lock beyond the raft log (store_claims.go).
//
// Every write publishes one Event after commit into a bounded ring (for
// watch replay) and to the matching Watchers. A slow watcher is closed with
// ErrWatchOverflow rather than blocking the FSM; a snapshot restore closes
// every watcher with ErrStoreReset. Either way the consumer re-lists and
// re-watches, as a Kubernetes client does.
//
// Writes reach the store through a Proposer: Raft in a cluster (forwarding
// from followers to the leader over the raft port), LocalProposer in unit
// tests. Reads (Get, List, Watch) are served from the local replica;
// Proposer.ConsistentRead first makes that replica linearizable.
//
// While a node leads, Raft.RunVoters manages the raft configuration on
// consul's autopilot rules (hashicorp/raft-autopilot with shoal's promoter):
// nodes join as non-voters, a non-voter healthy for a while is promoted while
// voters are below the target, a voter down for longer than a restart is
// demoted only when that keeps a healthy quorum, one change at a time. It
// learns which nodes exist from a ServerSource (gossip, adapted by the node)
// and their raft health from a stats RPC on the raft port.
//
// # Versions
//
// The log outlives a binary, and during an upgrade replicas of two
// versions apply it. Every entry, forwarded command and snapshot line is
// decoded strictly: what this binary does not know stops the replica with a
// message rather than being skipped. A newer command kind or field is a
// Feature (features.go) that the leader writes only once every raft server
// publishes, in gossip, a version that knows it: Raft.RunFeatureGate, a
// leader loop, decides; Raft.FeatureEnabled answers. The first is
// compressed entries (fsm_compress.go).
//
// # Files
//
//	store*.go, object_doc.go   the Store, its schema and the Apply semantics
//	event.go, watch.go         the event ring and watchers
//	snapshot.go                snapshot / restore of the Store
//	proposer.go                Proposer and LocalProposer
//	raft*.go                   the raft node: config, lifecycle, membership, Propose
//	raft_disk*.go              opening the raft state on disk; damage diagnosis
//	fsm*.go                    the raft FSM and its versioned log envelope
//	features.go                version-gated features; the leader's gate
//	transport.go, forward.go   the shared raft port: raft + forwarding RPC
//	backup.go                  the backup file (`shoal snapshot save`)
//	offline.go, recover.go     a stopped node's raft data: inspect, one-voter
//	                           recovery (`shoal recover`), seeding from a backup
//	voters*.go                 voter management: RunVoters, its rules
//	                           (voters_policy.go), autopilot glue, stats RPC
//
// # Usage
//
//	store := consensus.NewStore()
//	r, err := consensus.NewRaft(consensus.RaftConfig{
//		NodeID: "n1", DataDir: dir, BindAddr: "10.0.0.1:7000",
//		ServerTLS: srvTLS, ClientTLS: cliTLS, Bootstrap: true, Logger: logger,
//	}, store)
//	obj, err := r.Propose(ctx, &consensus.Command{
//		Op: consensus.OpCreate, Resource: "pods", Namespace: "default", Name: "web",
//		Object: podJSON, UID: uid, Time: now.Format(time.RFC3339),
//	})
//	w, err := store.Watch("pods", "default", obj.ResourceVersion)
//	for ev := range w.Events() { ... }
//	// w.Err() says why the channel closed.
package consensus
