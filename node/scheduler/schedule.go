package scheduler

import (
	"cmp"
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// pass is one round of the loop: snapshot node usage from the cache, then
// place every pending pod that is due, in priority order.
func (s *Scheduler) pass(ctx context.Context, pods *follow.Follower[corev1.Pod]) {
	// The unbound pods, from the shared index: no walk over bound pods.
	unbound := pods.ByIndex(follow.IndexPodsByNode, "")
	now := s.now()
	s.mu.Lock()
	s.cache.mu.Lock()
	s.settleLocked(now)
	pending, backingOff := s.pendingLocked(now, unbound)
	var snap *snapshot
	if len(pending) > 0 { // most passes of a burst only settle binds
		snap = s.cache.snapshotLocked(func(yield func(*podInfo, string)) {
			for _, a := range s.inflight {
				if a.node != "" {
					yield(a.pod, a.node)
				}
			}
		})
	}
	s.cache.mu.Unlock()
	s.mu.Unlock()
	s.stats.setPending(len(pending), backingOff, len(s.unsched))

	binds := 0
	for _, p := range pending {
		if ctx.Err() != nil {
			return
		}
		if s.scheduleOne(ctx, snap, p, now) {
			binds++
		}
	}
	if binds > 0 {
		s.stats.bindsPerPass.Observe(float64(binds))
	}
	s.stats.setPending(0, backingOff, len(s.unsched))
}

// settleLocked forgets binds the cache now reflects (the pod is charged to
// its node through the cache from then on), binds of pods that are gone,
// and binds written so long ago that the store must have missed them.
// s.mu and s.cache.mu are held.
func (s *Scheduler) settleLocked(now time.Time) {
	for key, a := range s.inflight {
		if a.node == "" {
			continue // a status write: its worker removes it
		}
		p := s.cache.pods[key]
		switch {
		case p != nil && p.pod.UID == a.uid && p.node != "":
			delete(s.inflight, key)
		case a.done && (p == nil || p.pod.UID != a.uid || now.Sub(a.at) > s.opts.assumeTTL):
			delete(s.inflight, key)
		}
	}
	for key, b := range s.backoff {
		if now.After(b.until.Add(time.Minute)) {
			delete(s.backoff, key)
		}
	}
}

// pendingLocked returns the pods to place in this pass, out of the
// unbound ones: pending, not being written, not backing off after a failed
// bind, and not found unschedulable since the last relevant change. Higher
// priority first, then older first. backingOff counts the pending pods left
// out for their back-off. s.mu and s.cache.mu are held.
func (s *Scheduler) pendingLocked(now time.Time, unbound []*corev1.Pod) (_ []*podInfo, backingOff int) {
	for key := range s.unsched {
		if p := s.cache.pods[key]; p == nil || !p.pending() {
			delete(s.unsched, key)
		}
	}
	var out []*podInfo
	for _, pod := range unbound {
		key := follow.Key(pod.Namespace, pod.Name)
		p := s.cache.pods[key]
		// The index may be a change ahead of the cache (its handler has not
		// run yet): that handler asks for another pass.
		if p == nil || p.pod != pod || !p.pending() {
			continue
		}
		if _, busy := s.inflight[key]; busy {
			continue
		}
		if b, ok := s.backoff[key]; ok && now.Before(b.until) {
			backingOff++
			continue
		}
		if a, ok := s.unsched[key]; ok && a.uid == p.pod.UID && a.generation == p.pod.Generation &&
			a.nodeGen == s.cache.nodeGen && a.freedGen == s.cache.freedGen && a.failed == s.failed &&
			now.Sub(a.at) < s.opts.retry {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *podInfo) int {
		if c := cmp.Compare(b.priority, a.priority); c != 0 {
			return c
		}
		if c := a.pod.CreationTimestamp.Compare(b.pod.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return out, backingOff
}

// scheduleOne places p: on the best feasible node (charged at once, the
// bind handed to a worker), or nowhere, with the reasons written to the
// pod's PodScheduled condition when they changed. It reports whether it
// handed a bind to the workers.
func (s *Scheduler) scheduleOne(ctx context.Context, snap *snapshot, p *podInfo, now time.Time) bool {
	start := time.Now()
	feasible, diag := s.findFeasible(snap, p)
	if len(feasible) == 0 {
		s.stats.attempt(resultUnschedulable, start)
		s.mu.Lock()
		failed := s.failed
		s.mu.Unlock()
		s.unsched[p.key] = attempt{uid: p.pod.UID, generation: p.pod.Generation,
			nodeGen: snap.nodeGen, freedGen: snap.freedGen, failed: failed, at: now}
		msg := diag.message()
		if c := p.scheduledCondition(); c != nil && c.Status == corev1.ConditionFalse &&
			c.Reason == corev1.PodReasonUnschedulable && c.Message == msg {
			return false // already says so
		}
		s.log.Debug("pod unschedulable", "pod", p.key, "reason", msg)
		s.dispatch(ctx, job{pod: p, message: msg})
		return false
	}
	delete(s.unsched, p.key)
	n := selectHost(p, feasible, s.rnd)
	n.add(p)
	s.dispatch(ctx, job{pod: p, node: n.name, start: start})
	return true
}

// findFeasible runs the filters over the nodes, starting where the last
// search stopped, until enough feasible nodes are found (see
// numFeasibleNodesToFind) or every node was tried.
func (s *Scheduler) findFeasible(snap *snapshot, p *podInfo) ([]*nodeState, *diagnosis) {
	all := len(snap.nodes)
	want := numFeasibleNodesToFind(all, s.opts.percentageOfNodes)
	feasible := s.feasible[:0]
	diag := &diagnosis{nodes: all}
	start := s.nextStart
	i := 0
	for ; i < all && len(feasible) < want; i++ {
		n := snap.nodes[(start+i)%all]
		if reasons := filter(p, n); reasons != nil {
			diag.add(reasons)
		} else {
			feasible = append(feasible, n)
		}
	}
	if all > 0 {
		s.nextStart = (start + i) % all
	}
	s.feasible = feasible
	return feasible, diag
}
