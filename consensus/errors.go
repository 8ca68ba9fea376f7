package consensus

import "errors"

// Sentinel errors. Callers test them with errors.Is; the API server turns
// them into Kubernetes Status answers.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: create found the key taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrClaimed: a command claimed a name (Command.Claims) that another
	// object holds.
	ErrClaimed = errors.New("already claimed by another object")
	// ErrConflict: a resourceVersion or uid precondition failed.
	ErrConflict = errors.New("precondition failed: the object has been modified")
	// ErrGone: a watch asked for a resourceVersion older than the event ring.
	ErrGone = errors.New("too old resource version")
	// ErrNotLeader: the write could not reach a leader.
	ErrNotLeader = errors.New("no raft leader")
	// ErrWatchOverflow: a watcher fell too far behind and was closed.
	ErrWatchOverflow = errors.New("watch closed: consumer too slow")
	// ErrStoreReset: a snapshot restore replaced the store; watchers re-list.
	ErrStoreReset = errors.New("watch closed: store restored from snapshot")
)

// ErrInvalid: a command was malformed (missing name, undecodable object,
// bad time). It is a logical error: the raft entry still counts.
var ErrInvalid = errors.New("invalid command")
