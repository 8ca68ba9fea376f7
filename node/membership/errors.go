package membership

import "errors"

// Sentinel errors; callers classify with errors.Is.
var (
	// ErrGossipKeyMismatch means the members we tried to join could not read
	// our gossip (or we could not read theirs): the cluster's gossip key,
	// derived from the join token's secret, differs from ours.
	ErrGossipKeyMismatch = errors.New("join refused: gossip key mismatch (wrong token?)")
	// ErrNotStarted is returned by calls that need Start first.
	ErrNotStarted = errors.New("membership: not started")
	// ErrShutdown is returned by calls made after Shutdown.
	ErrShutdown = errors.New("membership: shut down")
	// ErrMetaTooLarge means the encoded Meta exceeds memberlist's 512-byte
	// node metadata limit.
	ErrMetaTooLarge = errors.New("membership: node metadata too large")
)
