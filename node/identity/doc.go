// Package identity owns a shoal cluster's cryptographic identity: the cluster
// CA, the per-node certificates it signs, the cluster secret and everything
// derived from it (join token, admin bearer token, gossip key), and the join
// handshake that hands the CA to a new node.
//
// # Model
//
// One secret and one CA make a cluster. The join token printed by the first
// node, SHOAL-1-<sha256 of the CA cert>-<hex secret>, carries both halves of
// the trust a joiner needs: the CA hash lets it pin the cluster it talks to,
// and the secret lets it prove it was invited. Everything else is derived from
// the secret with HMAC/HKDF under fixed labels, so every node (and anyone
// holding the token) computes the same keys without another round trip:
//
//	secret --HKDF("shoal-gossip")--> memberlist AES-256 key
//	secret --HMAC("shoal-admin")---> API bearer token
//	secret --HMAC("join:"+name)----> join proof for node <name>
//
// On disk, under <dataDir>/identity/:
//
//	ca.crt    cluster CA certificate (PEM)
//	ca.key    cluster CA key, ECDSA P-256 (PEM, 0600)
//	secret    32 random bytes, hex (0600)
//	node.crt  this node's certificate, signed by the CA, server+client auth
//	node.key  its key (PEM, 0600)
//
// Every node holds the CA key (see JoinHandler for why), so any node can admit
// another one and issue its own certificate: no node is special.
//
// Usage
//
//	// first node
//	c, err := identity.NewCluster()
//	err = c.Save(dataDir)
//	fmt.Println(c.JoinToken())
//
//	// any node at start: load, create or join (gossip, then RequestJoin
//	// to a peer's API that gossip advertises)
//	id, err := identity.Obtain(ctx, identity.ObtainConfig{DataDir: dataDir, Name: name,
//		Join: join, Token: token, StartGossip: startGossip})
//
//	// the join handshake alone
//	tok, err := identity.ParseToken(flagToken)
//	c, err := identity.RequestJoin(ctx, "https://10.0.0.1:6443", name, tok)
//	err = c.Save(dataDir)
//	err = identity.EnsureNodeCert(dataDir, name, []net.IP{advertiseIP}, c)
//	raftServer, raftClient, err := c.NodeTLS(dataDir)
//	apiTLS, err := c.APIServerTLS(dataDir)
//
// The package depends only on the standard library (gossip is the narrow
// Gossip interface); the API server mounts JoinHandler and authenticates
// with Authenticator, and the node wires the TLS configs into raft and the
// API.
package identity
