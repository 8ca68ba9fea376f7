package consensus

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"
)

// Raft log envelope: one type byte, then the encoded body.
//
// A type with msgIgnorable set that this binary does not know is skipped
// with a warning (a newer node may log commands an older one can ignore);
// any other unknown type, and any body that fails to decode, panics: a
// corrupt or incompatible log must never be half-applied.
type msgType uint8

const (
	// msgCommand: a JSON-encoded Command.
	msgCommand msgType = 1
	// msgIgnorable marks a type that older binaries may skip.
	msgIgnorable msgType = 0x80
)

// ApplyResult is what the FSM returns for a command entry; raft hands it to
// the ApplyFuture on the leader.
type ApplyResult struct {
	Object *Object
	Err    error
}

// commandHandler decodes body and applies it to s at index. It panics when
// body does not decode.
type commandHandler func(s *Store, index uint64, body []byte) ApplyResult

var commandHandlers = map[msgType]commandHandler{}

// registerCommand adds a handler; called from init. Duplicate registration
// is a programming error and panics.
func registerCommand(t msgType, h commandHandler) {
	if _, dup := commandHandlers[t]; dup {
		panic(fmt.Sprintf("consensus: duplicate command type %d", t))
	}
	commandHandlers[t] = h
}

// encodeEntry builds a log entry from a type and a body.
func encodeEntry(t msgType, body []byte) []byte {
	buf := make([]byte, 0, len(body)+1)
	buf = append(buf, byte(t))
	return append(buf, body...)
}

// fsm adapts the Store to raft.FSM. It only decodes and calls the store.
type fsm struct {
	store  *Store
	logger *slog.Logger
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
)

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("consensus: empty raft log entry at index %d", l.Index))
	}
	t := msgType(l.Data[0])
	h, ok := commandHandlers[t]
	if !ok {
		if t&msgIgnorable != 0 {
			f.logger.Warn("ignoring unknown raft command", "type", uint8(t), "index", l.Index)
			f.store.SetIndex(l.Index)
			return ApplyResult{}
		}
		panic(fmt.Sprintf("consensus: unknown raft command type %d at index %d", t, l.Index))
	}
	return h(f.store, l.Index, l.Data[1:])
}

// StoreConfiguration implements raft.ConfigurationStore: configuration
// entries advance the store's index so WaitIndex sees every FSM-visible
// entry.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.store.SetIndex(index)
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.Restore(rc); err != nil {
		return err
	}
	f.logger.Info("restored store from snapshot", "index", f.store.Index())
	return nil
}

type fsmSnapshot struct{ snap *StoreSnapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
