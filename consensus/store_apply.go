package consensus

import (
	"fmt"
	"maps"

	memdb "github.com/hashicorp/go-memdb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Apply applies cmd at raft index index and returns the resulting object.
// It is deterministic (no clocks, no randomness: times and uids travel in
// cmd) and is the FSM's only write path.
//
// The index counts even when Apply returns an error: errors are logical
// (ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid) and leave the
// objects unchanged. A successful write publishes one event (ADDED,
// MODIFIED or DELETED) after it is committed; a delete of an object already
// marked for deletion returns the object and publishes nothing, unless it is
// a plain (not Graceful) delete of an object with no finalizers left, which
// removes it (a kubelet's final delete of a stopped pod).
//
// An update that removes the last finalizer of an object with a
// deletionTimestamp removes it; the DELETED event and the returned object
// carry the state the update produced.
//
// Create and update also record the command's claims (Command.Claims); a
// name another object holds fails the command with ErrClaimed. Removing an
// object releases its claims.
func (s *Store) Apply(index uint64, cmd *Command) (*Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(index, cmd)
}

func (s *Store) applyLocked(index uint64, cmd *Command) (*Object, error) {
	txn := s.db.Txn(true)
	obj, ev, err := applyTxn(txn, index, cmd)
	if err != nil {
		txn.Abort()
	} else {
		txn.Commit()
	}
	s.advanceLocked(index)
	if ev != nil {
		s.publishLocked(ev)
	}
	return obj, err
}

// BatchOp is one entry of ApplyBatch: Cmd applied at Index, or, with Cmd
// nil, only Index counted (an entry the store does not see: a raft
// configuration, an ignorable command).
type BatchOp struct {
	Index uint64
	Cmd   *Command
}

// BatchResult is what Apply returns, for one BatchOp.
type BatchResult struct {
	Object *Object
	Err    error
}

// ApplyBatch applies ops, in increasing index order, exactly as Apply
// would one after the other, in one database transaction: the store's
// index and its view move once, to the last index, and then the events
// are published in order. When a command fails (a logical error, which
// Apply leaves without effect), the transaction holds whatever it did
// before failing: the batch is then applied again one op at a time.
func (s *Store) ApplyBatch(ops []BatchOp) []BatchResult {
	out := make([]BatchResult, len(ops))
	if len(ops) == 0 {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.Txn(true)
	evs := make([]*Event, 0, len(ops))
	for i, op := range ops {
		if op.Cmd == nil {
			continue
		}
		obj, ev, err := applyTxn(txn, op.Index, op.Cmd)
		if err != nil {
			txn.Abort()
			return s.applyEachLocked(ops)
		}
		out[i].Object = obj
		if ev != nil {
			evs = append(evs, ev)
		}
	}
	txn.Commit()
	s.advanceLocked(ops[len(ops)-1].Index)
	for _, ev := range evs {
		s.publishLocked(ev)
	}
	return out
}

// applyEachLocked applies ops one by one, as Apply and SetIndex do.
func (s *Store) applyEachLocked(ops []BatchOp) []BatchResult {
	out := make([]BatchResult, len(ops))
	for i, op := range ops {
		if op.Cmd == nil {
			s.advanceLocked(op.Index)
			continue
		}
		out[i].Object, out[i].Err = s.applyLocked(op.Index, op.Cmd)
	}
	return out
}

// applyTxn performs cmd inside txn and returns the object and the event to
// publish (nil for none).
func applyTxn(txn *memdb.Txn, index uint64, cmd *Command) (*Object, *Event, error) {
	if err := validateCommand(cmd); err != nil {
		return nil, nil, err
	}
	raw, err := txn.First(tableObjects, "id", dbKey(cmd.Resource, cmd.Namespace, cmd.Name))
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: lookup: %w", err)
	}
	var old *Object
	if raw != nil {
		old = raw.(*Object)
	}
	switch cmd.Op {
	case OpCreate:
		return applyCreate(txn, index, cmd, old)
	case OpUpdate:
		return applyUpdate(txn, index, cmd, old)
	default: // OpDelete; validateCommand rejected anything else
		return applyDelete(txn, index, cmd, old)
	}
}

func validateCommand(cmd *Command) error {
	switch {
	case cmd == nil:
		return fmt.Errorf("%w: nil command", ErrInvalid)
	case cmd.Op != OpCreate && cmd.Op != OpUpdate && cmd.Op != OpDelete:
		return fmt.Errorf("%w: unknown op %d", ErrInvalid, cmd.Op)
	case cmd.Resource == "" || cmd.Name == "":
		return fmt.Errorf("%w: resource and name are required", ErrInvalid)
	case cmd.Op != OpDelete && len(cmd.Object) == 0:
		return fmt.Errorf("%w: %s %s: object is required", ErrInvalid, opName(cmd.Op), cmd.Resource)
	case cmd.Op == OpUpdate && cmd.Subresource != SubresourceNone && cmd.Subresource != SubresourceStatus:
		return fmt.Errorf("%w: unknown subresource %q", ErrInvalid, cmd.Subresource)
	}
	return validateClaims(cmd)
}

// checkPreconditions tests cmd's uid and resourceVersion against old.
func checkPreconditions(cmd *Command, old *Object) error {
	if old == nil {
		return fmt.Errorf("%s %q: %w", cmd.Resource, cmd.Name, ErrNotFound)
	}
	if cmd.ResourceVersion != 0 && cmd.ResourceVersion != old.ResourceVersion {
		return fmt.Errorf("%s %q: resourceVersion %d, stored %d: %w",
			cmd.Resource, cmd.Name, cmd.ResourceVersion, old.ResourceVersion, ErrConflict)
	}
	if cmd.UID != "" && cmd.UID != old.UID {
		return fmt.Errorf("%s %q: uid %s, stored %s: %w", cmd.Resource, cmd.Name, cmd.UID, old.UID, ErrConflict)
	}
	return nil
}

func applyCreate(txn *memdb.Txn, index uint64, cmd *Command, old *Object) (*Object, *Event, error) {
	if old != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", cmd.Resource, cmd.Name, ErrAlreadyExists)
	}
	var obj *Object
	var err error
	if cmd.stampInPlace {
		obj, err = stampCreated(cmd, index)
	} else {
		obj, err = createdDoc(cmd, index)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := txn.Insert(tableObjects, obj); err != nil {
		return nil, nil, fmt.Errorf("consensus: insert: %w", err)
	}
	if err := applyClaims(txn, cmd, obj); err != nil {
		return nil, nil, err
	}
	return obj, &Event{Type: Added, Object: obj}, nil
}

// createdDoc builds the object a create stores the way msgCommand entries
// always have: every top-level field decoded and re-encoded, sorted.
func createdDoc(cmd *Command, index uint64) (*Object, error) {
	d, err := decodeDoc(cmd.Object)
	if err != nil {
		return nil, err
	}
	d.meta.UID = types.UID(cmd.UID)
	d.meta.CreationTimestamp = metav1.Time{}
	if cmd.Time != "" {
		if d.meta.CreationTimestamp, err = parseTime(cmd.Time); err != nil {
			return nil, err
		}
	}
	d.meta.Generation = 1
	d.meta.DeletionTimestamp = nil
	d.meta.DeletionGracePeriodSeconds = nil
	return d.object(cmd.Resource, cmd.Namespace, cmd.Name, index)
}

func applyUpdate(txn *memdb.Txn, index uint64, cmd *Command, old *Object) (*Object, *Event, error) {
	if err := checkPreconditions(cmd, old); err != nil {
		return nil, nil, err
	}
	prev, err := decodeDoc(old.Raw)
	if err != nil {
		return nil, nil, err
	}
	next, err := decodeDoc(cmd.Object)
	if err != nil {
		return nil, nil, err
	}
	var d *objectDoc
	if cmd.Subresource == SubresourceStatus {
		// Only status is taken from the command.
		st, ok := next.top["status"]
		d = prev
		d.setField("status", st, ok)
		if cmd.AnnotationsWithStatus {
			d.meta.Annotations = next.meta.Annotations
		}
	} else {
		d = next
		if cmd.PreserveStatus {
			st, ok := prev.top["status"]
			d.setField("status", st, ok)
		}
		d.meta.UID = prev.meta.UID
		d.meta.CreationTimestamp = prev.meta.CreationTimestamp
		d.meta.DeletionTimestamp = prev.meta.DeletionTimestamp
		d.meta.DeletionGracePeriodSeconds = prev.meta.DeletionGracePeriodSeconds
		d.meta.Generation = prev.meta.Generation
		oldSpec, oldOK := prev.top["spec"]
		newSpec, newOK := d.top["spec"]
		if !sameJSON(oldSpec, oldOK, newSpec, newOK) ||
			(cmd.AnnotationsBumpGeneration && !maps.Equal(prev.meta.Annotations, d.meta.Annotations)) {
			d.meta.Generation++
		}
	}
	obj, err := d.object(cmd.Resource, cmd.Namespace, cmd.Name, index)
	if err != nil {
		return nil, nil, err
	}
	// Releasing the last finalizer of an object being deleted removes it.
	// An object marked without finalizers (a pod its kubelet is stopping)
	// stays until it is deleted again.
	if d.meta.DeletionTimestamp != nil && len(d.meta.Finalizers) == 0 && len(prev.meta.Finalizers) > 0 {
		if err := txn.Delete(tableObjects, old); err != nil {
			return nil, nil, fmt.Errorf("consensus: delete: %w", err)
		}
		if err := releaseClaims(txn, old.Key()); err != nil {
			return nil, nil, err
		}
		return obj, &Event{Type: Deleted, Object: obj, Prev: old}, nil
	}
	if err := txn.Insert(tableObjects, obj); err != nil {
		return nil, nil, fmt.Errorf("consensus: insert: %w", err)
	}
	if cmd.SetClaims || len(cmd.Claims) > 0 || len(cmd.Releases) > 0 {
		if err := applyClaims(txn, cmd, obj); err != nil {
			return nil, nil, err
		}
	}
	return obj, &Event{Type: Modified, Object: obj, Prev: old}, nil
}

func applyDelete(txn *memdb.Txn, index uint64, cmd *Command, old *Object) (*Object, *Event, error) {
	if err := checkPreconditions(cmd, old); err != nil {
		return nil, nil, err
	}
	d, err := decodeDoc(old.Raw)
	if err != nil {
		return nil, nil, err
	}
	if d.meta.DeletionTimestamp != nil && (cmd.Graceful || len(d.meta.Finalizers) > 0) {
		return old, nil, nil // already marked: nothing more to do yet
	}
	if len(d.meta.Finalizers) == 0 && !cmd.Graceful {
		obj, err := d.object(cmd.Resource, cmd.Namespace, cmd.Name, index)
		if err != nil {
			return nil, nil, err
		}
		if err := txn.Delete(tableObjects, old); err != nil {
			return nil, nil, fmt.Errorf("consensus: delete: %w", err)
		}
		if err := releaseClaims(txn, old.Key()); err != nil {
			return nil, nil, err
		}
		return obj, &Event{Type: Deleted, Object: obj, Prev: old}, nil
	}
	ts, err := parseTime(cmd.Time)
	if err != nil {
		return nil, nil, err
	}
	d.meta.DeletionTimestamp = &ts
	d.meta.DeletionGracePeriodSeconds = nil
	if cmd.GracePeriodSeconds != nil {
		g := *cmd.GracePeriodSeconds
		d.meta.DeletionGracePeriodSeconds = &g
	}
	obj, err := d.object(cmd.Resource, cmd.Namespace, cmd.Name, index)
	if err != nil {
		return nil, nil, err
	}
	if err := txn.Insert(tableObjects, obj); err != nil {
		return nil, nil, fmt.Errorf("consensus: insert: %w", err)
	}
	return obj, &Event{Type: Modified, Object: obj, Prev: old}, nil
}

func opName(op Op) string {
	switch op {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", op)
}
