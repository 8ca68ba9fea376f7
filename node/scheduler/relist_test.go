package scheduler

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-project/shoal/consensus"
)

// TestPodArrivingWithRelist: a snapshot restore (a replica that fell
// behind is sent the leader's snapshot) closes every watch of the store,
// and the shared cache lists again. A pod that came with the snapshot,
// never as a watch event, is still scheduled, and so is one created after.
func TestPodArrivingWithRelist(t *testing.T) {
	e := newEnv(t)
	e.readyNode("node-a", "4", "8Gi")
	e.start(WithResync(time.Hour)) // no resync to hide a missed change
	e.pod("before", "100m", "")
	e.Eventually(10*time.Second, func() error { return e.bound("before") })

	// A store one pod ahead of this one: its state plus "late".
	var snap bytes.Buffer
	if _, err := e.Store.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	ahead := consensus.NewStore()
	if err := ahead.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	late := testPod("late", "100m", "")
	late.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	late.UID = ""
	raw, err := json.Marshal(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consensus.NewLocalProposer(ahead).Propose(e.Ctx, &consensus.Command{
		Op: consensus.OpCreate, Resource: "pods", Namespace: "default", Name: "late",
		Object: raw, UID: "uid-late", Time: time.Now().UTC().Format(time.RFC3339),
	}); err != nil {
		t.Fatal(err)
	}
	snap.Reset()
	if _, err := ahead.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	e.Eventually(10*time.Second, func() error { return e.bound("late") })
	e.pod("after", "100m", "")
	e.Eventually(10*time.Second, func() error { return e.bound("after") })
	for _, name := range []string{"before", "late", "after"} {
		if c := podScheduled(e.GetPod(name)); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("%s: PodScheduled %+v, want True", name, c)
		}
	}
}
