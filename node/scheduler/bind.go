package scheduler

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Bind backoff after an error other than a lost race (the API down, the
// pod rejected): doubling from the first to the last.
const (
	backoffInitial = time.Second
	backoffMax     = 30 * time.Second
)

// job is one write handed to a worker: a bind when node is set, else an
// Unschedulable condition with message.
type job struct {
	pod     *podInfo
	node    string
	message string
	flight  *inflight
	start   time.Time // when the scheduling attempt began (binds)
}

// inflight is a write being made for a pod. While it lasts the pod is not
// scheduled again; a bind's pod stays charged to its node until the store
// shows the pod bound (or the bind failed).
type inflight struct {
	uid  types.UID
	pod  *podInfo
	node string // "" for a status write
	done bool   // the bind succeeded; waiting for the cache to see it
	at   time.Time
}

// backoff delays the next bind of a pod whose bind failed.
type backoff struct {
	until time.Time
	delay time.Duration
}

// dispatch records j as in flight and queues it for the workers, waiting
// for room when they are all busy.
func (s *Scheduler) dispatch(ctx context.Context, j job) {
	j.flight = &inflight{uid: j.pod.pod.UID, pod: j.pod, node: j.node}
	s.mu.Lock()
	s.inflight[j.pod.key] = j.flight
	s.mu.Unlock()
	select {
	case s.jobs <- j:
	case <-ctx.Done():
	}
}

// work runs jobs until ctx ends.
func (s *Scheduler) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			if j.node != "" {
				s.finishBind(j, s.bind(ctx, j.pod, j.node))
			} else {
				s.finishStatus(j, s.markUnschedulable(ctx, j.pod, j.message))
			}
		}
	}
}

// finishBind records a bind's outcome and asks for a pass: a failure
// releases the node at once (the pod is tried again), a success keeps it
// charged until the cache sees the pod bound.
func (s *Scheduler) finishBind(j job, err error) {
	now := s.now()
	key := j.pod.key
	s.mu.Lock()
	current := s.inflight[key] == j.flight
	switch {
	case err == nil:
		j.flight.done, j.flight.at = true, now
		delete(s.backoff, key)
	default:
		if current {
			delete(s.inflight, key)
		}
		s.failed++
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			b := s.backoff[key]
			b.delay = min(max(2*b.delay, backoffInitial), backoffMax)
			b.until = now.Add(b.delay)
			s.backoff[key] = b
		}
	}
	s.mu.Unlock()
	if err == nil {
		s.stats.attempt(resultScheduled, j.start)
	} else {
		s.stats.attempt(resultError, j.start)
	}
	switch {
	case err == nil:
		s.log.Debug("pod bound", "pod", key, "node", j.node)
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		s.log.Debug("bind lost a race; retrying", "pod", key, "node", j.node, "error", err)
	default:
		s.log.Warn("bind failed", "pod", key, "node", j.node, "error", err)
	}
	s.poke()
}

// finishStatus ends an Unschedulable status write. A failed one makes
// every unschedulable pod due again, so the verdict is written later. Either
// way it asks for a pass: a change that came while the write was in flight
// (a pod freed room) found the pod busy and did not try it.
func (s *Scheduler) finishStatus(j job, err error) {
	s.mu.Lock()
	if s.inflight[j.pod.key] == j.flight {
		delete(s.inflight, j.pod.key)
	}
	if err != nil {
		s.failed++
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Debug("unschedulable status not written", "pod", j.pod.key, "error", err)
	}
	s.poke()
}

// bind assigns p to node with POST pods/NAME/binding, p's uid as
// precondition: the API server sets spec.nodeName and PodScheduled=True in
// one write, as kube-apiserver's binding registry does. Then it records the
// Scheduled event. The answer (a Status) is not decoded.
func (s *Scheduler) bind(ctx context.Context, p *podInfo, node string) error {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.pod.Name, Namespace: p.pod.Namespace, UID: p.pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node},
	}
	err := s.deps.Client.CoreV1().RESTClient().Post().Namespace(p.pod.Namespace).Resource("pods").Name(p.pod.Name).
		SubResource("binding").Body(b).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	s.rec.event(p.pod, corev1.EventTypeNormal, "Scheduled",
		fmt.Sprintf("Successfully assigned %s/%s to %s", p.pod.Namespace, p.pod.Name, node))
	return nil
}

// updateStatus writes pod's status (PUT pods/NAME/status) and ignores the
// answer.
func (s *Scheduler) updateStatus(ctx context.Context, pod *corev1.Pod) error {
	return s.deps.Client.CoreV1().RESTClient().Put().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).
		SubResource("status").Body(pod).Do(ctx).Error()
}

// markUnschedulable writes PodScheduled=False, reason Unschedulable, with
// msg, on p as the cache saw it (a resourceVersion precondition), then
// records a FailedScheduling event.
func (s *Scheduler) markUnschedulable(ctx context.Context, p *podInfo, msg string) error {
	pod := p.pod.DeepCopy() // p.pod is the shared cache's
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: msg}
	if !setCondition(&pod.Status, cond, s.now()) {
		return nil
	}
	if err := s.updateStatus(ctx, pod); err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	s.rec.event(p.pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	return nil
}

// setCondition puts c into st (replacing the condition of its type) and
// reports whether anything changed. The transition time moves only when
// the status does. st.Conditions is modified in place: callers own it.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition, now time.Time) bool {
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	for i := range st.Conditions {
		cur := &st.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status == c.Status && cur.Reason == c.Reason && cur.Message == c.Message {
			return false
		}
		if cur.Status == c.Status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = c
		return true
	}
	st.Conditions = append(st.Conditions, c)
	return true
}
