// Package apitest is the in-process environment the parts' tests run in:
// one store behind the real API server (LocalProposer, no raft) served
// over loopback HTTP, a client-go client for it, the node's shared cache
// over the store, and a settable clock. No scheduler, controller or
// kubelet runs; each part's tests start their own, and bind pods and
// write their status where no part does.
//
//	e := apitest.New(t)
//	e.ReadyNode("node-a", "10.0.0.1", true)
//	e.RunLoop("scheduler", s.Run, s.Ready())
//	e.WantPods("web", 3)
//
// It sits under internal/ so that every part can use it: it imports the
// API server, the store and the follow layer, and no part.
package apitest
