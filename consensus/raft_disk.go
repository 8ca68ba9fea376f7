package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// The raft state on disk, under RaftConfig.DataDir:
//
//	wal/          raft-wal: the log (segment files *.wal) and the stable
//	              store (term, vote) with the segment list in wal-meta.db
//	snapshots/    raft's FileSnapshotStore: <term>-<index>-<ms>/ each with
//	              meta.json and state.bin; written as <id>.tmp, then renamed
//
// openLogStore and openSnapshotStore are the only way shoal opens them
// (NewRaft and the crash tests share them). A store that cannot be opened
// gives a *DamagedStoreError naming the file, never a panic.

const (
	walDirName      = "wal"
	snapshotDirName = "snapshots"
	snapshotsRetain = 2
)

// openLogStore opens (or creates) the raft log and stable store in
// dataDir/wal. segmentSize is raft-wal's segment file size (0: its default,
// 64 MiB). The returned WAL closes its meta database on Close.
func openLogStore(dataDir string, segmentSize int, logger hclog.Logger) (_ *wal.WAL, err error) {
	dir := filepath.Join(dataDir, walDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	// raft-wal starts an empty log when its meta database is missing and
	// deletes the segment files it does not know: a lost wal-meta.db
	// would silently lose the whole log.
	metaPath := filepath.Join(dir, metadb.FileName)
	if _, err := os.Stat(metaPath); errors.Is(err, os.ErrNotExist) {
		if segs, _ := filepath.Glob(filepath.Join(dir, "*.wal")); len(segs) > 0 {
			return nil, &DamagedStoreError{DataDir: dataDir, File: metaPath,
				Err: fmt.Errorf("missing, while %d log segment files exist (raft-wal would start an empty log and delete them)", len(segs))}
		}
	}

	if err := checkUnlocked(metaPath); err != nil {
		return nil, err
	}

	// The meta database is ours until wal.Open succeeds: raft-wal leaves it
	// open (and locked) when Open fails.
	meta := &metadb.BoltMetaDB{}
	var logs *wal.WAL
	err = noPanic(logger, "open the raft log", func() (err error) {
		if err := repairSealedTail(dir, meta, logger); err != nil {
			return fmt.Errorf("repair the tail: %w", err)
		}
		logs, err = wal.Open(dir, wal.WithMetaStore(meta), wal.WithLogger(logger), wal.WithSegmentSize(segmentSize))
		return err
	})
	if err != nil {
		_ = meta.Close()
		logger.Error("cannot open the raft log", "dir", dir, "error", err)
		return nil, diagnoseStore(dataDir, fmt.Errorf("consensus: open raft log %s: %w", dir, err))
	}
	return logs, nil
}

// openSnapshotStore opens (or creates) raft's snapshot store in
// dataDir/snapshots and removes what a crash during a snapshot leaves
// behind, which raft ignores and never deletes: unfinished snapshots
// (<id>.tmp), and the remains of an old snapshot whose deletion was cut
// short after its meta.json went (one older than a complete snapshot).
// Call it after openLogStore, whose lock makes this process the only
// writer.
func openSnapshotStore(dataDir string, logger hclog.Logger) (*raft.FileSnapshotStore, error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, snapshotsRetain, logger)
	if err != nil {
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	dir := filepath.Join(dataDir, snapshotDirName)
	remove := func(name, what string) error {
		path := filepath.Join(dir, name)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("consensus: remove %s: %w", what, err)
		}
		logger.Warn("removed "+what+" left by a crash", "path", path)
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	var others []string
	for _, e := range entries {
		switch {
		case !e.IsDir():
		case strings.HasSuffix(e.Name(), ".tmp"):
			if err := remove(e.Name(), "an unfinished snapshot"); err != nil {
				return nil, err
			}
		case missing(filepath.Join(dir, e.Name(), "meta.json")):
			others = append(others, e.Name())
		}
	}
	complete, err := snaps.List() // newest first
	if err != nil {
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	for _, name := range others {
		if len(complete) > 0 && olderSnapshot(name, complete[0]) {
			if err := remove(name, "the remains of a deleted snapshot"); err != nil {
				return nil, err
			}
		}
	}
	return snaps, nil
}

// olderSnapshot reports whether the snapshot directory name (raft's
// <term>-<index>-<ms>) is older than than.
func olderSnapshot(name string, than *raft.SnapshotMeta) bool {
	var term, index, ms uint64
	if n, _ := fmt.Sscanf(name, "%d-%d-%d", &term, &index, &ms); n != 3 {
		return false
	}
	return term < than.Term || term == than.Term && index < than.Index
}

func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}

// CheckRaftLogFree fails with ErrRaftInUse when a process (this one
// included) has the raft log under dataDir (RaftConfig.DataDir) open: the
// preflight check that no other agent runs on a data dir. It takes the
// lock for an instant and lets it go.
func CheckRaftLogFree(dataDir string) error {
	return checkUnlocked(filepath.Join(dataDir, walDirName, metadb.FileName))
}

// checkUnlocked fails when a process (this one included) has the log in
// metaPath open: bolt, which locks the file, would wait for it forever.
func checkUnlocked(metaPath string) error {
	f, err := os.Open(metaPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("consensus: the raft log %s is in use by another process (another shoal agent with this data dir? stop the agent first): %w", filepath.Dir(metaPath), ErrRaftInUse)
		}
		return fmt.Errorf("consensus: lock %s: %w", metaPath, err)
	}
	return nil // closing f releases the lock
}

// noPanic runs fn and turns a panic in it into an error (the stack goes to
// logger). The raft libraries panic on some damage (raft.NewRaft panics
// when it cannot read a log entry); a damaged store must stop the agent
// with an error that says what to do, not with a crash.
func noPanic(logger hclog.Logger, what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("panic: "+what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("%s panicked: %v", what, p)
		}
	}()
	return fn()
}
