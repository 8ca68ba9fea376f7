package nodelifecycle

import (
	"testing"

	"github.com/shoal-project/shoal/node/controller/controllertest"
	"github.com/shoal-project/shoal/node/controller/replicaset"
)

// testEnv is controllertest's, with a ReplicaSet controller: eviction's
// tests check that evicted pods are made again.
type testEnv struct{ *controllertest.Env }

func newTestEnv(t *testing.T) *testEnv { return &testEnv{controllertest.New(t)} }

// startRS runs a ReplicaSet controller until the test ends.
func (e *testEnv) startRS() {
	e.TB.Helper()
	c := replicaset.New(e.Deps)
	e.RunLoop("replicaset controller", c.Run, c.Ready())
}
