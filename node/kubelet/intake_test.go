package kubelet

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/apitest"
)

// TestLoopIntakeAcrossRelist: the kubelet takes its pods from the node's
// shared cache. When the store's watch closes under the cache (here a
// snapshot restore, as a replica that fell behind gets from the leader),
// the cache re-lists, and what changed meanwhile still reaches the
// kubelet: a pod bound to this node is started, a pod deleted is stopped.
// The full pass is an hour away, so only the cache's changes can do it.
func TestLoopIntakeAcrossRelist(t *testing.T) {
	e := newLoopEnv(t)
	e.tune = func(tu *Tuning) { tu.Resync = time.Hour }
	e.start()
	old := e.createPod(testPod("old", "busybox:1.36"))
	e.eventually("pod old Running", func() (bool, string) {
		p := e.GetPod("old")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	if !e.hasSandbox(old.UID) {
		t.Fatal("no sandbox for pod old")
	}

	// The leader's state a while later: old deleted for good, new bound
	// here, and the log well past this replica's.
	leader := apitest.New(t)
	ahead, acs := leader.Store, leader.CS
	copyStore(t, e.Store, ahead)
	if err := acs.CoreV1().Pods("default").Delete(e.Ctx, "old", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	pod := testPod("new", "busybox:1.36")
	pod.Spec.NodeName = testNode
	created, err := acs.CoreV1().Pods("default").Create(e.Ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acs.CoreV1().ConfigMaps("default").Create(e.Ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "filler"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ahead.Index() <= e.Store.Index()+50; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "filler"}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := acs.CoreV1().ConfigMaps("default").Update(e.Ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	copyStore(t, ahead, e.Store)

	e.eventually("pod new Running", func() (bool, string) {
		p := e.GetPod("new")
		return p.Status.Phase == corev1.PodRunning && p.UID == created.UID, string(p.Status.Phase)
	})
	e.eventually("pod old stopped", func() (bool, string) {
		return !e.hasSandbox(old.UID), "its sandbox is still there"
	})
	if !e.hasSandbox(created.UID) {
		t.Error("no sandbox for pod new")
	}
}

// copyStore restores into dst a snapshot of src: dst's watches close, as
// a replica's do when it installs the leader's snapshot.
func copyStore(t *testing.T, src, dst *consensus.Store) {
	t.Helper()
	var snap bytes.Buffer
	if _, err := src.Snapshot().WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(&snap); err != nil {
		t.Fatal(err)
	}
}

// hasSandbox reports whether the runtime holds a sandbox of pod uid.
func (e *loopEnv) hasSandbox(uid types.UID) bool {
	e.rt.mu.Lock()
	defer e.rt.mu.Unlock()
	for _, sb := range e.rt.sandboxes {
		if sb.UID == string(uid) {
			return true
		}
	}
	return false
}
