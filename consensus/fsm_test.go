package consensus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func TestFSMEnvelope(t *testing.T) {
	s := NewStore()
	f := &fsm{store: s, logger: slog.New(slog.DiscardHandler)}
	entry, err := encodeCommand(createCmd("ns", "a", nil))
	if err != nil {
		t.Fatal(err)
	}
	res, ok := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: entry}).(ApplyResult)
	if !ok || res.Err != nil || res.Object.ResourceVersion != 3 {
		t.Fatalf("Apply = %+v", res)
	}
	res = f.Apply(&raft.Log{Index: 4, Data: entry}).(ApplyResult)
	if !errors.Is(res.Err, ErrAlreadyExists) || s.Index() != 4 {
		t.Fatalf("duplicate: %+v at %d", res, s.Index())
	}

	// Ignorable unknown types are skipped but still advance the index.
	f.Apply(&raft.Log{Index: 5, Data: []byte{byte(msgIgnorable | 0x7f), 1, 2}})
	if s.Index() != 5 {
		t.Fatalf("index after ignored entry = %d", s.Index())
	}
	f.StoreConfiguration(6, raft.Configuration{})
	if s.Index() != 6 {
		t.Fatalf("index after configuration = %d", s.Index())
	}

	for name, data := range map[string][]byte{
		"empty":        nil,
		"unknown type": {0x33, '{', '}'},
		"corrupt body": append([]byte{byte(msgCommand)}, "{not json"...),
		// A newer binary's field would change what the command does.
		"unknown field": append([]byte{byte(msgCommand)}, `{"op":1,"resource":"configmaps","namespace":"ns","name":"b","object":{},"fromTheFuture":true}`...),
		// So would an op or a subresource it does not define.
		"unknown op":          append([]byte{byte(msgCommand)}, `{"op":4,"resource":"configmaps","namespace":"ns","name":"b","object":{}}`...),
		"unknown subresource": append([]byte{byte(msgCommand)}, `{"op":2,"resource":"deployments","namespace":"ns","name":"b","object":{},"subresource":"scale"}`...),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f.Apply(&raft.Log{Index: 7, Data: data})
		})
	}
}

// encodeCommand never puts in the log what applyCommandEntry would take
// for a newer binary's command.
func TestEncodeCommandRejectsUnknownValues(t *testing.T) {
	for name, cmd := range map[string]*Command{
		"op":          {Op: 9, Resource: "pods", Name: "x"},
		"subresource": {Op: OpUpdate, Resource: "deployments", Namespace: "ns", Name: "d", Object: []byte(`{}`), Subresource: "scale"},
	} {
		if _, err := encodeCommand(cmd); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: encodeCommand = %v, want ErrInvalid", name, err)
		}
	}
}

// A snapshot line with a field this binary does not know fails the
// restore: restoring without it would lose what a newer binary stored.
func TestRestoreRejectsUnknownFields(t *testing.T) {
	for name, snap := range map[string]string{
		"object": `{"version":2,"index":5}` + "\n" + `{"resource":"configmaps","namespace":"ns","name":"a","rv":5,"raw":{},"fromTheFuture":1}` + "\n",
		"claim":  `{"version":2,"index":5}` + "\n" + `{"claim":{"name":"x","owner":"configmaps/ns/a","fromTheFuture":1}}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := NewStore()
			if err := s.Restore(bytes.NewReader([]byte(snap))); err == nil || !strings.Contains(err.Error(), "fromTheFuture") {
				t.Fatalf("Restore = %v, want an error naming the unknown field", err)
			}
		})
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	src := NewStore()
	if _, err := src.Apply(1, createCmd("ns", "a", nil)); err != nil {
		t.Fatal(err)
	}
	f := &fsm{store: src, logger: slog.New(slog.DiscardHandler)}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v closed=%v", err, sink.closed)
	}
	snap.Release()
	dst := NewStore()
	g := &fsm{store: dst, logger: slog.New(slog.DiscardHandler)}
	if err := g.Restore(nopCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Get("configmaps", "ns", "a"); err != nil || dst.Index() != 1 {
		t.Fatalf("restored: %v at %d", err, dst.Index())
	}
}

func TestErrorKindsRoundTrip(t *testing.T) {
	for _, k := range errKinds {
		err := errorFromKind(errorKind(k.err), "x")
		if !errors.Is(err, k.err) {
			t.Fatalf("%s: %v does not match", k.kind, err)
		}
	}
	if errorKind(errors.New("boom")) != kindInternal || errorFromKind(kindNone, "") != nil {
		t.Fatal("internal/none mapping")
	}
	if !errors.Is(errorFromKind(kindRetry, "r"), ErrNotLeader) {
		t.Fatal("retry must map to ErrNotLeader")
	}
}

type memSink struct {
	bytes.Buffer
	closed bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { m.closed = true; return nil }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
