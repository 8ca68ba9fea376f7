package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// DamagedStoreError says that this node's raft state on disk cannot be
// read. File is the damaged file: a log segment (DataDir/wal/*.wal), the
// log's meta database (DataDir/wal/wal-meta.db) or a snapshot directory
// (DataDir/snapshots/<id>). The message says what to do.
type DamagedStoreError struct {
	// DataDir is the raft data directory (RaftConfig.DataDir).
	DataDir string
	// File is the damaged file or directory.
	File string
	// Err says what is wrong with it.
	Err error
	// Failure is how opening or starting from the state failed, which led
	// to the diagnosis (logged; not repeated in the message).
	Failure error
}

func (e *DamagedStoreError) Error() string {
	return fmt.Sprintf("consensus: this node's raft state is damaged: %s: %v. "+
		"To bring the node back while the other members still have a quorum: stop the agent, "+
		"move %s aside (mv %s %s.damaged) and start the agent again; it rejoins and receives "+
		"the leader's snapshot. If this node holds the last copy of the cluster's data, keep "+
		"the directory and restart the cluster from it with `shoal recover`",
		e.File, e.Err, e.DataDir, e.DataDir, e.DataDir)
}

func (e *DamagedStoreError) Unwrap() error { return e.Err }

// diagnoseStore looks for the damaged file behind err, a failure to open
// or start from the raft state in dataDir. It returns a *DamagedStoreError
// naming the file, or err itself when every file reads back whole (the
// failure has another cause). The stores must be closed: it opens them.
func diagnoseStore(dataDir string, err error) error {
	var damaged *DamagedStoreError
	if errors.As(err, &damaged) {
		return err
	}
	if file, why := findDamagedLogFile(filepath.Join(dataDir, walDirName)); file != "" {
		return &DamagedStoreError{DataDir: dataDir, File: file, Err: why, Failure: err}
	}
	if file, why := findDamagedSnapshot(dataDir); file != "" {
		return &DamagedStoreError{DataDir: dataDir, File: file, Err: why, Failure: err}
	}
	return err
}

// findDamagedLogFile reads the raft-wal log in dir the way wal.Open and
// raft do (the meta database, the stable store's keys, every segment and
// every entry in it) and returns the first file that fails, with why; ""
// when all read back.
func findDamagedLogFile(dir string) (file string, why error) {
	quiet := hclog.NewNullLogger()
	metaPath := filepath.Join(dir, metadb.FileName)
	if _, err := os.Stat(metaPath); errors.Is(err, os.ErrNotExist) {
		return "", nil // nothing written yet (a missing meta beside segments is caught on open)
	}
	meta := &metadb.BoltMetaDB{}
	defer meta.Close()
	var st types.PersistentState
	err := noPanic(quiet, "read "+metadb.FileName, func() (err error) {
		if st, err = meta.Load(dir); err != nil {
			return err
		}
		// raft's stable keys hold 8-byte integers (the vote candidate is a string).
		for _, key := range []string{"CurrentTerm", "LastVoteTerm"} {
			v, err := meta.GetStable([]byte(key))
			if err != nil {
				return fmt.Errorf("stable key %s: %w", key, err)
			}
			if v != nil && len(v) != 8 {
				return fmt.Errorf("stable key %s holds %d bytes, want 8", key, len(v))
			}
		}
		return nil
	})
	if err != nil {
		return metaPath, err
	}
	filer := segment.NewFiler(dir, fs.New())
	for _, si := range st.Segments {
		if err := noPanic(quiet, "read a log segment", func() error { return checkSegment(filer, si) }); err != nil {
			return filepath.Join(dir, segment.FileName(si)), err
		}
	}
	return "", nil
}

// checkSegment opens one segment as wal.Open does (a sealed one through its
// index block, the tail by recovering it) and decodes each of its entries.
func checkSegment(filer *segment.Filer, si types.SegmentInfo) error {
	var r types.SegmentReader
	last := si.MaxIndex
	if si.SealTime.IsZero() {
		w, err := filer.RecoverTail(si)
		if errors.Is(err, os.ErrNotExist) {
			return nil // wal.Open recreates a tail that a crash left uncreated
		}
		if err != nil {
			return err
		}
		defer w.Close()
		r, last = w, w.LastIndex()
	} else {
		sr, err := filer.Open(si)
		if err != nil {
			return err
		}
		defer sr.Close()
		r = sr
	}
	var codec wal.BinaryCodec
	for idx := si.MinIndex; last > 0 && idx <= last; idx++ {
		buf, err := r.GetLog(idx)
		if err != nil {
			return fmt.Errorf("log entry %d: %w", idx, err)
		}
		var l raft.Log
		err = codec.Decode(buf.Bs, &l)
		buf.Close()
		if err != nil {
			return fmt.Errorf("log entry %d: %w", idx, err)
		}
		if l.Index != idx {
			return fmt.Errorf("log entry %d holds index %d", idx, l.Index)
		}
	}
	return nil
}

// findDamagedSnapshot returns a snapshot directory in dataDir/snapshots
// whose metadata or state cannot be read back (raft checks the state's
// CRC), with why; "" when all read back. Raft's List skips a snapshot whose
// meta.json it cannot read, so the directory is listed here directly.
func findDamagedSnapshot(dataDir string) (dir string, why error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, snapshotsRetain, hclog.NewNullLogger())
	if err != nil {
		return "", nil
	}
	base := filepath.Join(dataDir, snapshotDirName)
	entries, err := os.ReadDir(base)
	if err != nil {
		return base, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		name := e.Name()
		_, rc, err := snaps.Open(name)
		if err != nil {
			return filepath.Join(base, name), err
		}
		rc.Close()
	}
	return "", nil
}
