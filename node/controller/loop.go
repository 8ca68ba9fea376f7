package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/node/follow"
)

// The loop every level-triggered controller runs: a full pass at start,
// then a pass whenever something it reads changed and on a resync timer,
// so a missed change heals. A pass reads the whole state again (the
// node's cache), so many changes make one pass, not one pass each:
//
//	trig := controller.NewTrigger()
//	defer trig.PokeOn(controller.Changes(services), controller.Changes(pods))()
//	if !follow.WaitReady(ctx, services, pods) {
//		return nil
//	}
//	return controller.Loop(ctx, controller.LoopConfig{
//		Name: "endpoints controller", Logger: c.Logger,
//		Wake: trig.C(), Resync: 5 * time.Second,
//		Reconcile: c.Reconcile,
//	})
//
// Add the handlers before the first list is waited for and the first pass
// runs, so no change falls in between.

// Trigger coalesces change signals: any number of Pokes before the loop
// looks make one pending pass. Make it with NewTrigger.
type Trigger struct{ c chan struct{} }

// NewTrigger returns a Trigger with nothing pending.
func NewTrigger() *Trigger { return &Trigger{c: make(chan struct{}, 1)} }

// Poke asks for a pass. It never blocks, so a follow handler may call it.
func (t *Trigger) Poke() {
	select {
	case t.c <- struct{}{}:
	default: // a pass is pending already
	}
}

// C receives once per pending pass: LoopConfig.Wake.
func (t *Trigger) C() <-chan struct{} { return t.c }

// A Watch calls fn on every change of something a controller reads, until
// the stop it returned is called.
type Watch func(fn func()) (stop func())

// Changes watches every add, update and delete of f's objects
// (follow.OnAny).
func Changes[T any](f *follow.Follower[T]) Watch {
	return func(fn func()) func() { return f.AddHandler(follow.OnAny[T](fn)) }
}

// PokeOn pokes t on every change of ws; stop removes all their handlers.
// Defer the call of its result, not PokeOn itself:
// defer trig.PokeOn(...)().
func (t *Trigger) PokeOn(ws ...Watch) (stop func()) {
	stops := make([]func(), 0, len(ws))
	for _, w := range ws {
		stops = append(stops, w(t.Poke))
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// LoopConfig is what Loop runs.
type LoopConfig struct {
	// Name is the message a failed pass is logged with at Warn
	// ("endpoints controller"), with the error under "error".
	Name   string
	Logger *slog.Logger // nil: passes fail silently
	// Wake asks for a pass each time it receives (Trigger.C, a gossip
	// subscription); nil: only the resync starts passes. Its closing
	// makes one last pass; then it is no longer read.
	Wake <-chan struct{}
	// Resync is how often a pass runs without a wake (a ticker). It must
	// be positive.
	Resync time.Duration
	// Settle is how long a pass waits after its wake (or tick), so a
	// burst of changes (a rollout) lands in one pass; a wake within the
	// settle is taken by that pass. 0: no wait.
	Settle time.Duration
	// Reconcile makes one full pass. An error is logged and the loop goes
	// on: the next wake or tick retries.
	Reconcile func(ctx context.Context) error
}

// Loop runs passes until ctx ends, then returns nil (for a controller's
// Run). The first pass runs at once.
func Loop(ctx context.Context, cfg LoopConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wake := cfg.Wake
	t := time.NewTicker(cfg.Resync)
	defer t.Stop()
	for {
		if err := cfg.Reconcile(ctx); err != nil && ctx.Err() == nil {
			log.Warn(cfg.Name, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-wake:
			if !ok {
				wake = nil // a closed channel would wake every time
			}
		case <-t.C:
		}
		if cfg.Settle > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(cfg.Settle):
			}
			// The pass reads everything the wakes since signalled.
			select {
			case <-wake:
			default:
			}
		}
	}
}
