package consensus

// EventType says what happened to an object.
type EventType string

// Event types, spelled as Kubernetes watch events.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is one committed change. Object.ResourceVersion is the raft index of
// the change. Prev is the state before the change (nil for ADDED). For
// DELETED, Object is the last state of the object stamped with the delete's
// index (ResourceVersion and metadata.resourceVersion in Raw).
type Event struct {
	Type   EventType
	Object *Object
	Prev   *Object
}

// eventRing keeps the most recent events for watch replay.
//
// floor and floors record what has been lost: a watch from fromRV may be
// served from the ring only if no event of its resource with a
// ResourceVersion > fromRV was dropped.
type eventRing struct {
	buf   []Event
	start int
	n     int
	// floor is the index below which nothing can be replayed (a restore).
	floor uint64
	// floors is, per resource, the ResourceVersion of the newest dropped event.
	floors map[string]uint64
}

func newEventRing(size int, floor uint64) *eventRing {
	return &eventRing{buf: make([]Event, size), floor: floor, floors: make(map[string]uint64)}
}

// add appends ev, dropping the oldest event when the ring is full.
func (r *eventRing) add(ev Event) {
	if r.n == len(r.buf) {
		old := r.buf[r.start]
		r.floors[old.Object.Resource] = old.Object.ResourceVersion
		r.buf[r.start] = Event{}
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	r.buf[(r.start+r.n)%len(r.buf)] = ev
	r.n++
}

// since returns the kept events of resource (and namespace, "" = all) with
// ResourceVersion > fromRV, oldest first, or ok=false when some were dropped.
func (r *eventRing) since(resource, namespace string, fromRV uint64) (evs []Event, ok bool) {
	if fromRV < r.floor || fromRV < r.floors[resource] {
		return nil, false
	}
	// Events are in index order: binary search for the first one > fromRV.
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		if r.at(mid).Object.ResourceVersion > fromRV {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	for i := lo; i < r.n; i++ {
		ev := r.at(i)
		if matches(ev.Object, resource, namespace) {
			evs = append(evs, ev)
		}
	}
	return evs, true
}

func (r *eventRing) at(i int) Event { return r.buf[(r.start+i)%len(r.buf)] }

// matches reports whether o belongs to resource and namespace ("" = all).
func matches(o *Object, resource, namespace string) bool {
	return o.Resource == resource && (namespace == "" || o.Namespace == namespace)
}
