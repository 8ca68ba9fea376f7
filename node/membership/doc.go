// Package membership is how shoal nodes find each other and learn who is
// alive: hashicorp/memberlist gossip (encrypted with a key derived from the
// cluster secret), each node's metadata (API and raft addresses, roles,
// capacity, version) carried in its gossip node meta, a reconnect loop
// that merges the two sides of a healed partition (memberlist alone does
// not), and the saved peers a restarted node rejoins.
//
// # Model
//
// A Membership keeps every member it has ever seen with its State (Alive,
// Suspect, Dead, Left) and when that State began. Liveness comes from
// gossip's failure detector, tuned to declare a dead node within about 5-7 s;
// consumers (the raft voter manager in consensus, through an adapter in
// node; the node-lifecycle controller) poll Members after a Subscribe
// wake-up and apply their own grace periods. The package knows nothing of
// raft or HTTP.
//
// Usage
//
//	m, err := membership.New(membership.Config{
//		Name: "node-a", BindPort: 7946, SecretKey: cluster.GossipKey(),
//		Meta: membership.Meta{RaftAddr: "node-a:7947", APIAddr: "node-a:6443"},
//		Logger: logger.With("component", "gossip"),
//	})
//	err = m.Start()
//	err = m.Join(ctx, []string{"10.0.0.1:7946"}) // errors.Is(err, membership.ErrGossipKeyMismatch) on a wrong token
//	go m.RunReconnect(ctx)
//	go m.RunRejoin(ctx, membership.RejoinConfig{DataDir: dataDir}) // saves peers; rejoins them after a restart
//	defer m.Shutdown()
//	defer m.Leave(2 * time.Second)
package membership
