package controller

import (
	"log/slog"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/follow"
)

// Deps are what every controller uses.
type Deps struct {
	// Store is the local replica, read only.
	Store *consensus.Store
	// Cache holds the node's typed copies of the store (follow.For):
	// controllers read it rather than decoding the store themselves.
	Cache *follow.Shared
	// Client writes through the API.
	Client kubernetes.Interface
	// Dynamic writes kinds generically (garbage collection, namespaces).
	Dynamic dynamic.Interface
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CurrentTime reads the clock.
func (d Deps) CurrentTime() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}
