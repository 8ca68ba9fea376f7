// Package apiserver serves the Kubernetes API on every shoal peer.
//
// Every request is routed (route.go) to a registry.Kind, authenticated
// (auth.go) and handled by one handler per verb (handler_*.go). Reads come
// from the local replica of the store; a read without resourceVersion first
// asks the leader how far the log has been committed (a quorum read). Writes
// go through a consensus.Proposer, which forwards them to the leader and
// returns only once this peer's replica has applied them, so a client that
// writes to one peer and reads from it sees its own write.
//
// Services get their cluster IPs and node ports from servicealloc, as
// store claims written with the Service itself.
//
//	srv := apiserver.New(apiserver.Config{Store: st, Proposer: raft, ...})
//	go srv.Serve(ctx, listener)
package apiserver
