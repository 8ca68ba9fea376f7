package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/version"
)

// Raft log envelope, versioned so that the log outlives a binary: one
// type byte, then the encoded body.
//
// A type with msgIgnorable set that this binary does not know is skipped
// with a warning (a newer node may log commands an older one can ignore);
// any other unknown type, and any body that fails to decode, panics: a
// corrupt or incompatible log must never be half-applied. A newer leader
// writes a type or field older binaries do not know only once every raft
// server runs a binary that knows it (features.go); the panic is for the
// node that was not upgraded first and says so.
type msgType uint8

const (
	// msgCommand: a JSON-encoded Command.
	msgCommand msgType = 1
	// msgCompressed (since v0.2.0, FeatureCompressedEntries): another
	// entry, deflate-compressed (fsm_compress.go), declared there.

	// msgIgnorable marks a type that older binaries may skip.
	msgIgnorable msgType = 0x80
)

// ApplyResult is what the FSM returns for a command entry; raft hands it to
// the ApplyFuture on the leader.
type ApplyResult struct {
	Object *Object
	Err    error
}

// commandDecoder decodes the body of the entry at index. It panics when
// body does not decode.
type commandDecoder func(index uint64, body []byte) *Command

var commandDecoders = map[msgType]commandDecoder{}

// registerCommand adds a decoder; called from init. Duplicate registration
// is a programming error and panics.
func registerCommand(t msgType, d commandDecoder) {
	if _, dup := commandDecoders[t]; dup {
		panic(fmt.Sprintf("consensus: duplicate command type %d", t))
	}
	commandDecoders[t] = d
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
	// compressed and framed count the msgCompressed and msgFramed entries
	// applied (metrics: they show FeatureCompressedEntries and
	// FeatureFramedCommands at work on every replica).
	compressed, framed atomic.Uint64
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.BatchingFSM        = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
)

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	cmd := f.decode(l)
	if cmd == nil {
		f.store.SetIndex(l.Index)
		return ApplyResult{}
	}
	obj, err := f.store.Apply(l.Index, cmd)
	return ApplyResult{Object: obj, Err: err}
}

// ApplyBatch implements raft.BatchingFSM: raft hands over the entries it
// committed together (commands and configurations), and the store applies
// them in one transaction (Store.ApplyBatch). One by one, every create
// copied the store's index path anew and published a new view: a third of
// the FSM's time under 64 writers (issue 13).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	ops := make([]BatchOp, len(logs))
	for i, l := range logs {
		ops[i].Index = l.Index
		if l.Type == raft.LogCommand {
			ops[i].Cmd = f.decode(l)
		}
	}
	res := f.store.ApplyBatch(ops)
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = ApplyResult{Object: res[i].Object, Err: res[i].Err}
		}
	}
	return out
}

// decode returns the command of a command entry, or nil for an ignorable
// one this binary does not know. It panics on an entry it cannot read.
func (f *fsm) decode(l *raft.Log) *Command {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("consensus: empty raft log entry at index %d", l.Index))
	}
	data := l.Data
	if msgType(data[0]) == msgCompressed {
		data = inflateEntry(l.Index, data[1:])
		f.compressed.Add(1)
	}
	t := msgType(data[0])
	if t == msgFramed {
		f.framed.Add(1)
	}
	decodeBody, ok := commandDecoders[t]
	if !ok {
		if t&msgIgnorable != 0 {
			f.logger.Warn("ignoring unknown raft command", "type", uint8(t), "index", l.Index)
			return nil
		}
		panic(newerEntry(l.Index, fmt.Sprintf("has command type %d, unknown to this binary", t)))
	}
	return decodeBody(l.Index, data[1:])
}

// newerEntry is the panic message for an entry this binary cannot apply:
// a newer binary wrote it (or the log is corrupt). Applying part of it, or
// skipping it, would make this replica diverge from the others.
func newerEntry(index uint64, what string) string {
	return fmt.Sprintf("consensus: raft entry at index %d %s (shoal %s): a newer shoal wrote it, or the log is corrupt; "+
		"upgrade this node to the version the other nodes run (docs/upgrades.md)", index, what, version.Version)
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
