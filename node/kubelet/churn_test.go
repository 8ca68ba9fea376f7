package kubelet

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestLoopNoStatusChurn checks that a steady pod's status is not rewritten.
func TestLoopNoStatusChurn(t *testing.T) {
	e := newLoopEnv(t)
	e.start()
	e.createPod(testPod("steady", "busybox:1.36"))
	e.eventually("Running", func() (bool, string) {
		p := e.GetPod("steady")
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
	time.Sleep(100 * time.Millisecond)
	rv := e.GetPod("steady").ResourceVersion
	time.Sleep(500 * time.Millisecond) // many PodSync periods and two resyncs
	if got := e.GetPod("steady").ResourceVersion; got != rv {
		t.Errorf("status rewritten without a change: resourceVersion %s -> %s", rv, got)
	}
}
