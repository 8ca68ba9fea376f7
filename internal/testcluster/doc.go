// Package testcluster starts real shoal nodes inside one test process: real
// raft over TLS, real gossip and the real API server on 127.0.0.1 ports,
// each node with its own data dir. Tests use it to write on one peer and
// read on another, to kill and restart nodes, and to watch leadership move.
//
//	c := testcluster.New(t, 3)
//	cs := c.Client(t, 1) // client-go against node 1
package testcluster
