package consensus

import (
	"context"
	"sync"
)

// Proposer is the seam between the API and consensus: the single path by
// which writes reach the store.
//
// Propose applies cmd through consensus and returns the resulting object
// once it is committed. The local store may apply it a moment later:
// ReadYourWrites, which every local read calls first, waits for that, so
// this node's next read sees the write. Logical
// failures come back as the store's sentinels (ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrInvalid); ErrNotLeader means the write
// could not reach a leader, or leadership was lost and the outcome is
// unknown. Propose blocks; it honours ctx.
//
// ConsistentRead returns once the local store reflects every write
// acknowledged before the call (a linearizable read index).
//
// ReadYourWrites returns once the local store reflects every write this
// node's Propose acknowledged.
type Proposer interface {
	Propose(ctx context.Context, cmd *Command) (*Object, error)
	ConsistentRead(ctx context.Context) error
	ReadYourWrites(ctx context.Context) error
}

var (
	_ Proposer = (*LocalProposer)(nil)
	_ Proposer = (*Raft)(nil)
)

// LocalProposer applies commands straight to a Store with increasing
// indexes: the proposer for unit tests and single-process use without raft.
type LocalProposer struct {
	mu    sync.Mutex
	store *Store
}

// NewLocalProposer returns a proposer that applies to s.
func NewLocalProposer(s *Store) *LocalProposer { return &LocalProposer{store: s} }

// Propose applies cmd at the store's next index.
func (p *LocalProposer) Propose(ctx context.Context, cmd *Command) (*Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.store.Apply(p.store.Index()+1, cmd)
}

// ConsistentRead returns nil: the local store is the only replica.
func (p *LocalProposer) ConsistentRead(ctx context.Context) error { return ctx.Err() }

// ReadYourWrites returns nil: Propose applied to the store itself.
func (p *LocalProposer) ReadYourWrites(ctx context.Context) error { return ctx.Err() }
