// Package scheduler binds pending pods to nodes. It runs on the leader only
// (node/leader.go starts it in onLeader) and follows kube-scheduler's
// behaviour and wording.
//
// The model is one level-triggered loop over the node's shared cache of
// the store (node/follow): the pods and nodes there are decoded once per
// change, for every part of the node.
//
//	follow handlers (pods, nodes) --> cache: podInfo/nodeInfo per object,
//	   |                              per-node sums of the pods bound there
//	   +-- poke --+
//	resync ticker +--> pass: snapshot the per-node sums (no walk over pods)
//	bind finished +         the unbound pods from the pods-by-node index
//	                        for each pending pod, by priority then age:
//	                          filter -> score -> assume on the node
//	                        hand binds / status writes to workers
//
// A pass never waits for the API: the chosen node is charged at once (the
// pod is "assumed" there) and a bounded pool of workers writes the binds
// concurrently through client-go. Until the cache shows the pod bound, its
// requests stay charged to that node, so later pods of the same or the
// next pass cannot overcommit it. A bind that fails (a conflict, the pod
// gone) releases the node and the pod is tried again on the next pass.
//
// Filters (filters.go) are kube-scheduler's defaults that matter here:
// node readiness, spec.unschedulable, taints against tolerations, the node
// selector and required node affinity, host ports, and the pod's requests
// (containers summed, init containers maxed, overhead added) against
// allocatable cpu, memory and pods. Scores (scores.go) are least-allocated,
// balanced allocation and spreading pods of the same controller; ties are
// broken at random.
//
// A pod no node can take gets PodScheduled=False, reason Unschedulable, with
// kube-scheduler's message ("0/3 nodes are available: 3 Insufficient
// memory.") and a FailedScheduling event; both are written only when the
// message changes. Such pods are tried again when a node changes, when a
// pod that held resources goes away, and on a timer.
//
// Binding is one POST pods/NAME/binding (the pod's uid as precondition):
// the API server sets spec.nodeName and PodScheduled=True in one write, as
// kube-apiserver's binding registry does. The scheduler itself only writes
// PodScheduled=False (Unschedulable); the two never race over the
// condition's True state.
//
// Events (Scheduled, FailedScheduling) go through the node's event
// recorders (node/events, client-go's), from component default-scheduler.
//
// Usage:
//
//	s := scheduler.New(scheduler.Deps{Cache: shared, Client: client}, scheduler.WithWorkers(32))
//	go s.Run(ctx) // returns when ctx is cancelled
//	<-s.Ready()   // the first pass is done
package scheduler
