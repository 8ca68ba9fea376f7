// Package controllertest is the environment the controllers' tests run
// in: internal/apitest's (one store behind the real API server, a
// client-go client, the node's shared cache, a settable clock), with the
// controllers' Deps over it.
package controllertest

import (
	"testing"

	"k8s.io/client-go/dynamic"

	"github.com/shoal-project/shoal/internal/apitest"
	"github.com/shoal-project/shoal/node/controller"
)

// Env is apitest's Env with the controllers' Deps. No scheduler and no
// kubelet run; tests bind pods and write their status.
type Env struct {
	*apitest.Env
	// Deps are the controllers' (Cache included), on Env's clock.
	Deps controller.Deps
}

// New starts an Env that stops when the test ends; opts adjust apitest's
// (apitest.WithWrites, to count a pass's writes).
func New(tb testing.TB, opts ...apitest.Option) *Env {
	tb.Helper()
	// Up to 256 idle connections: the controllers' workers and the
	// benchmarks write concurrently.
	e := apitest.New(tb, append([]apitest.Option{apitest.WithIdleConns(256)}, opts...)...)
	return &Env{Env: e, Deps: controller.Deps{
		Store: e.Store, Cache: e.Cache, Client: e.CS, Dynamic: dynamic.NewForConfigOrDie(e.Rest),
		Logger: apitest.Logger(tb), Now: e.Clock.Now,
	}}
}
