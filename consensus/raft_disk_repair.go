package consensus

import (
	"bytes"
	"fmt"
	"math"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// repairSealedTail closes a crash window that raft-wal (0.4.1) does not
// recover from. A segment is sealed by writing an index block into the
// file (when it fills up, or when a tail truncation seals it); only then
// does the meta database record the seal and name a new tail. A kill in
// between leaves a tail that the metadata calls open but whose file says
// sealed: raft-wal reopens it as the tail and refuses every later append
// ("segment is sealed"), so the node starts but can never write again.
//
// The repair copies the tail's committed entries (exactly those raft-wal's
// own recovery keeps) into a new tail segment and points the metadata at
// it; wal.Open then deletes the old file, no longer referenced. Each step
// survives a kill: the new segment's id is committed before its file is
// written, so a half-written file is an unreferenced one that wal.Open
// deletes, and the switch to it is one metadata transaction.
//
// meta is left open for wal.Open.
func repairSealedTail(dir string, meta *metadb.BoltMetaDB, logger hclog.Logger) error {
	st, err := meta.Load(dir)
	if err != nil {
		return err
	}
	if len(st.Segments) == 0 {
		return nil
	}
	tail := st.Segments[len(st.Segments)-1]
	if !tail.SealTime.IsZero() {
		return nil
	}
	filer := segment.NewFiler(dir, fs.New())
	entries, sealed, err := readSealedTail(filer, tail)
	if err != nil || !sealed {
		return err
	}

	size := uint64(tail.SizeLimit) + 64
	for _, e := range entries {
		size += uint64(len(e.Data)) + 20 // frame header, padding, index slot
	}
	next := types.SegmentInfo{
		ID:         st.NextSegmentID,
		BaseIndex:  tail.MinIndex,
		MinIndex:   tail.MinIndex,
		Codec:      tail.Codec,
		SizeLimit:  uint32(min(size, math.MaxInt32)), // room for the copy and as much again
		CreateTime: time.Now(),
	}
	st.NextSegmentID++
	if err := meta.CommitState(st); err != nil {
		return fmt.Errorf("reserve a segment id: %w", err)
	}
	w, err := filer.Create(next)
	if err != nil {
		return fmt.Errorf("create the new tail segment: %w", err)
	}
	defer w.Close()
	if len(entries) > 0 {
		if err := w.Append(entries); err != nil {
			return fmt.Errorf("copy %d entries to the new tail segment: %w", len(entries), err)
		}
	}
	if sealed, _, _ := w.Sealed(); sealed {
		return fmt.Errorf("the new tail segment %s sealed itself", segment.FileName(next))
	}
	st.Segments[len(st.Segments)-1] = next
	if err := meta.CommitState(st); err != nil {
		return fmt.Errorf("switch to the new tail segment: %w", err)
	}
	logger.Warn("repaired the raft log's tail: a crash had sealed it before the metadata recorded the seal",
		"sealed_segment", segment.FileName(tail), "new_segment", segment.FileName(next), "entries", len(entries))
	return nil
}

// readSealedTail recovers the tail segment as wal.Open does and, if its
// file turns out sealed, returns its committed entries.
func readSealedTail(filer *segment.Filer, tail types.SegmentInfo) (entries []types.LogEntry, sealed bool, err error) {
	w, err := filer.RecoverTail(tail)
	if err != nil {
		return nil, false, nil // a missing tail is recreated, other errors reported, by wal.Open
	}
	defer w.Close()
	if sealed, _, _ = w.Sealed(); !sealed {
		return nil, false, nil
	}
	last := w.LastIndex()
	for idx := tail.MinIndex; last > 0 && idx <= last; idx++ {
		buf, err := w.GetLog(idx)
		if err != nil {
			return nil, true, fmt.Errorf("read entry %d of the sealed tail %s: %w", idx, segment.FileName(tail), err)
		}
		entries = append(entries, types.LogEntry{Index: idx, Data: bytes.Clone(buf.Bs)})
		buf.Close()
	}
	return entries, true, nil
}
