// Package node is shoal's composition root: it builds the parts of one
// daemon (identity, raft and the store, gossip membership, the API server,
// the leader-only controllers), starts them in order, and stops them in
// reverse order. It holds no logic of its own beyond that wiring.
//
//	err := node.RunAgent(ctx, node.DefaultConfig(), logger)
package node
