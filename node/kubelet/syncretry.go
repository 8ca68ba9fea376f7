package kubelet

import "time"

// syncRetry is a pod worker's run of failed syncs. A failed sync is
// retried after a delay that starts at Tuning.SyncBackOff.Initial and
// doubles up to its Max, as the kubelet's pod workers back off after an
// error; wakes from the resync pass, configmaps, secrets and probes do not
// cut it short (only a change of the pod does). Its error is logged when
// it first appears or changes, not at every attempt.
type syncRetry struct {
	policy  BackOffPolicy
	fails   int           // failed syncs in a row
	first   time.Time     // when the first of them failed
	delay   time.Duration // the current delay
	lastErr string        // the error text last logged
}

// failing reports whether the last sync failed.
func (r *syncRetry) failing() bool { return r.fails > 0 }

// fail records a failed sync at now and returns the delay before the next
// attempt, and whether its error differs from the one before (or is the
// first).
func (r *syncRetry) fail(err error, now time.Time) (delay time.Duration, changed bool) {
	if r.fails == 0 {
		r.first, r.delay = now, r.policy.Initial
	} else {
		r.delay = min(2*r.delay, r.policy.Max)
	}
	r.fails++
	msg := err.Error()
	changed = msg != r.lastErr
	r.lastErr = msg
	return r.delay, changed
}

// succeed ends a run of failures and returns how many there were and
// when the first was.
func (r *syncRetry) succeed() (fails int, since time.Time) {
	fails, since = r.fails, r.first
	*r = syncRetry{policy: r.policy}
	return fails, since
}
