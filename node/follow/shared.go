package follow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-project/shoal/consensus"
)

// Shared hands out one Follower per resource to every part of a node (the
// controllers, the scheduler, the kubelet, the Service proxy and dnsd), so
// each change is decoded once however many parts read it: client-go's
// SharedInformerFactory. A follower starts when first asked for (at once
// if Run is running, else when it starts) and runs until Run's ctx ends.
type Shared struct {
	store *consensus.Store
	log   *slog.Logger

	mu        sync.Mutex
	ctx       context.Context // Run's; nil before Run
	followers map[string]shared
	wg        sync.WaitGroup
}

// shared is a Follower of some type.
type shared interface {
	Run(ctx context.Context) error
}

// NewShared returns the shared followers of store. log may be nil.
func NewShared(store *consensus.Store, log *slog.Logger) *Shared {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shared{store: store, log: log, followers: make(map[string]shared)}
}

// Store is the store the followers read.
func (s *Shared) Store() *consensus.Store { return s.store }

// For returns the follower of resource (all namespaces), of Go type T.
// It panics when the resource was asked for before with another type: a
// resource has one Go type in a node.
func For[T any](s *Shared, resource string) *Follower[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.followers[resource]; ok {
		typed, ok := f.(*Follower[T])
		if !ok {
			panic(fmt.Sprintf("follow: %s followed as %T, asked for as %T", resource, f, typed))
		}
		return typed
	}
	f := New[T](s.store, resource, "", s.log)
	s.followers[resource] = f
	if s.ctx != nil {
		s.start(f)
	}
	return f
}

// start runs f under Run's context. s.mu is held.
func (s *Shared) start(f shared) {
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = f.Run(s.ctx)
	}()
}

// Run starts the followers asked for so far and those asked for later,
// and returns once ctx ends and every follower has stopped.
func (s *Shared) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ctx != nil {
		s.mu.Unlock()
		return fmt.Errorf("follow: Shared.Run called twice")
	}
	s.ctx = ctx
	for _, f := range s.followers {
		s.start(f)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock() // no start after this point can miss the Wait below
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// readier is any follower.
type readier interface{ Ready() <-chan struct{} }

// WaitReady waits until every follower has its first list, or ctx ends
// (false).
func WaitReady(ctx context.Context, fs ...readier) bool {
	for _, f := range fs {
		select {
		case <-ctx.Done():
			return false
		case <-f.Ready():
		}
	}
	return true
}

// holder is a follower of any type, as HoldsBefore sees it.
type holder interface{ HoldsBefore(rv uint64) bool }

// WaitHolds waits until every follower holds the changes made before
// index rv, ctx ends or wait has passed; it reports whether they all do.
// A reader about to act on an object at rv from one follower calls it for
// the others it will consult (a pod's ConfigMaps, Secrets and Services).
// rv 0 (a resourceVersion that did not parse) holds at once.
func WaitHolds(ctx context.Context, rv uint64, wait time.Duration, fs ...holder) bool {
	return Await(ctx, wait, func() bool {
		for _, f := range fs {
			if !f.HoldsBefore(rv) {
				return false
			}
		}
		return true
	})
}

// Await polls caught every millisecond until it reports true (true), ctx
// ends or wait has passed (caught's last answer). Caches catch up in
// microseconds to milliseconds, so readers poll rather than subscribe.
func Await(ctx context.Context, wait time.Duration, caught func() bool) bool {
	if caught() {
		return true
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return caught()
		case <-tick.C:
			if caught() {
				return true
			}
		}
	}
}
