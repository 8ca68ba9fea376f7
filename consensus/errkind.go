package consensus

import "errors"

// Error kinds carry sentinel errors across the forwarding RPC so that
// errors.Is works on the follower as it does on the leader.
const (
	kindNone      = ""
	kindRetry     = "retry" // not applied; safe to retry (maybe at another leader)
	kindNotFound  = "notfound"
	kindExists    = "exists"
	kindConflict  = "conflict"
	kindClaimed   = "claimed"
	kindGone      = "gone"
	kindInvalid   = "invalid"
	kindNotLeader = "notleader"
	kindInternal  = "internal"
)

var errKinds = []struct {
	kind string
	err  error
}{
	{kindNotFound, ErrNotFound},
	{kindExists, ErrAlreadyExists},
	{kindConflict, ErrConflict},
	{kindClaimed, ErrClaimed},
	{kindGone, ErrGone},
	{kindInvalid, ErrInvalid},
	{kindNotLeader, ErrNotLeader},
}

// errorKind classifies err for the wire.
func errorKind(err error) string {
	if err == nil {
		return kindNone
	}
	for _, k := range errKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return kindInternal
}

// remoteError is an error received from the leader: its message, wrapping
// the sentinel of its kind.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// errorFromKind rebuilds an error sent with errorKind.
func errorFromKind(kind, msg string) error {
	if kind == kindNone {
		return nil
	}
	var sentinel error
	for _, k := range errKinds {
		if k.kind == kind {
			sentinel = k.err
		}
	}
	if kind == kindRetry {
		sentinel = ErrNotLeader
	}
	if msg == "" {
		msg = kind
	}
	return &remoteError{msg: "leader: " + msg, sentinel: sentinel}
}
