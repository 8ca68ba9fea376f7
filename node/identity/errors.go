package identity

import "errors"

// Sentinel errors. Callers classify with errors.Is; the messages are written
// to be shown to the user as they are.
var (
	// ErrInvalidToken means a join token does not have the shape
	// SHOAL-1-<ca-sha256>-<secret>.
	ErrInvalidToken = errors.New("invalid join token: expected SHOAL-1-<ca-sha256>-<secret>")
	// ErrWrongToken means the cluster refused the join proof: the token's
	// secret is not this cluster's.
	ErrWrongToken = errors.New("join refused: wrong token")
	// ErrCAMismatch means the node we dialled does not present the CA the
	// token pins.
	ErrCAMismatch = errors.New("join refused: cluster CA does not match the token")
)
