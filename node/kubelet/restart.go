package kubelet

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// backOff is client-go's flowcontrol.Backoff as the kubelet uses it: per
// key, a delay that starts at Initial and doubles up to Max with every
// failure, and starts over once nothing failed for 2*Max (a container that
// ran for ten minutes with the default 5m cap).
type backOff struct {
	policy BackOffPolicy

	mu      sync.Mutex
	entries map[string]*backOffEntry
}

type backOffEntry struct {
	delay time.Duration
	last  time.Time // when the delay was last advanced
}

func newBackOff(p BackOffPolicy) *backOff {
	return &backOff{policy: p, entries: make(map[string]*backOffEntry)}
}

// Next records, at now, a failure that happened at t (a container's finish
// time, or now for a pull) and returns the delay that now applies. The
// delay starts over when more than 2*Max passed between the previous
// Next and t.
func (b *backOff) Next(key string, t, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || t.Sub(e.last) > 2*b.policy.Max {
		e = &backOffEntry{delay: b.policy.Initial}
		b.entries[key] = e
	} else {
		e.delay = min(2*e.delay, b.policy.Max)
	}
	e.last = now
	return e.delay
}

// InBackOffSince reports whether, at now, key is still waiting out its
// delay counted from t (a container's finish time), and the delay.
func (b *backOff) InBackOffSince(key string, t, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || t.Sub(e.last) > 2*b.policy.Max {
		return false, 0
	}
	return now.Sub(t) < e.delay, e.delay
}

// InBackOffSinceUpdate is InBackOffSince counted from the last Next (a
// failed pull).
func (b *backOff) InBackOffSinceUpdate(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || now.Sub(e.last) > 2*b.policy.Max {
		return false, 0
	}
	return now.Sub(e.last) < e.delay, e.delay
}

// Forget drops the keys with prefix (a pod's, when it goes away).
func (b *backOff) Forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}

// shouldRestart applies a restart policy to an exited container.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}
