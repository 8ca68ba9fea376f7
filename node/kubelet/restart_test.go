package kubelet

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestBackOff(t *testing.T) {
	b := newBackOff(BackOffPolicy{Initial: 10 * time.Second, Max: 5 * time.Minute})
	t0 := time.Unix(1000, 0)
	if in, _ := b.InBackOffSince("k", t0, t0); in {
		t.Fatal("a key never seen is not in back-off")
	}
	// Each crash doubles the delay up to the cap.
	now := t0
	var got []time.Duration
	for range 8 {
		got = append(got, b.Next("k", now, now))
		now = now.Add(time.Second)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	finished := now
	if in, d := b.InBackOffSince("k", finished, finished.Add(299*time.Second)); !in || d != 5*time.Minute {
		t.Errorf("in back-off %v with %v, want true with 5m", in, d)
	}
	if in, _ := b.InBackOffSince("k", finished, finished.Add(301*time.Second)); in {
		t.Error("back-off must end after its delay")
	}
	// A container that ran for more than 2*Max (10 min) starts over.
	late := now.Add(11 * time.Minute)
	if in, _ := b.InBackOffSince("k", late, late); in {
		t.Error("a crash after 10 minutes of running is not backed off")
	}
	if d := b.Next("k", late, late); d != 10*time.Second {
		t.Errorf("delay after a long run %v, want 10s", d)
	}
	// Pulls count from the last failure.
	if in, _ := b.InBackOffSinceUpdate("k", late.Add(5*time.Second)); !in {
		t.Error("5s after a failed pull is within 10s")
	}
	if in, _ := b.InBackOffSinceUpdate("k", late.Add(11*time.Second)); in {
		t.Error("11s after a failed pull is past 10s")
	}
	b.Forget("k")
	if in, _ := b.InBackOffSinceUpdate("k", late); in {
		t.Error("forgotten keys are not in back-off")
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true}, {corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyOnFailure, 0, false}, {corev1.RestartPolicyOnFailure, 2, true},
		{corev1.RestartPolicyNever, 0, false}, {corev1.RestartPolicyNever, 1, false},
	} {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%s, %d) = %v", tc.policy, tc.code, got)
		}
	}
}
