package scheduler

import (
	"hash/maphash"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/shoal-project/shoal/node/events"
)

// recorders spreads the scheduler's events over a few of the node's event
// recorders (client-go's, see node/events), by pod. One recorder writes
// one event at a time, which falls behind a burst of binds (a thousand
// binds left their Scheduled events a few hundred milliseconds behind);
// all the events of one pod go through one recorder, so their repeats are
// still aggregated and rate-limited as client-go does.
type recorders struct {
	seed  maphash.Seed
	recs  []record.EventRecorder
	stops []func()
}

func newRecorders(client kubernetes.Interface, component string, n int) *recorders {
	r := &recorders{seed: maphash.MakeSeed()}
	for range n {
		rec, stop := events.NewRecorder(client, events.Source{Component: component})
		r.recs = append(r.recs, rec)
		r.stops = append(r.stops, stop)
	}
	return r
}

// event records an event about pod; it never blocks (a recorder whose
// queue is full drops it, as client-go's does).
func (r *recorders) event(pod *corev1.Pod, eventType, reason, message string) {
	i := maphash.String(r.seed, string(pod.UID)) % uint64(len(r.recs))
	r.recs[i].Event(pod, eventType, reason, message)
}

// stop flushes and stops the recorders.
func (r *recorders) stop() {
	for _, stop := range r.stops {
		stop()
	}
}
