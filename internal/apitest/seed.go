package apitest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shoal-project/shoal/consensus"
)

// Seed creates obj straight through the store's proposer, with uid and
// created as its UID and creation time: a fixture that skips the API's
// admission and defaults, for tests that need fixed UIDs or ages. obj
// carries its own TypeMeta.
func (e *Env) Seed(resource, namespace, name, uid string, created time.Time, obj any) {
	e.TB.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		e.TB.Fatalf("seed %s %s/%s: %v", resource, namespace, name, err)
	}
	if _, err := consensus.NewLocalProposer(e.Store).Propose(context.Background(), &consensus.Command{
		Op: consensus.OpCreate, Resource: resource, Namespace: namespace, Name: name, Object: raw,
		UID: uid, Time: created.UTC().Format(time.RFC3339),
	}); err != nil {
		e.TB.Fatalf("seed %s %s/%s: %v", resource, namespace, name, err)
	}
}
