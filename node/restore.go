package node

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/fsutil"
	"github.com/shoal-project/shoal/node/identity"
)

// Restoring a snapshot (`shoal snapshot restore FILE --data-dir D`, like
// etcdutl snapshot restore) prepares a fresh data dir; the agent started on
// it creates a one-node cluster that holds the snapshot's objects, claims
// and identity:
//
//	RestoreSnapshot   FILE --verify--> D/identity/ + D/restore-pending.snap
//	agent start       restore-pending.snap --seed--> D/raft (this node the
//	                  only voter), then the pending file is removed
//
// The raft state is written at the agent's first start, not by the restore,
// because only then are the node's name and raft address known for sure.

// restorePendingFile is the snapshot a restored data dir starts from.
const restorePendingFile = "restore-pending.snap"

// SnapshotFile is a verified, decoded snapshot file.
type SnapshotFile struct {
	*consensus.Backup
	// Cluster is the identity it carries.
	Cluster *identity.Cluster
}

// ReadSnapshotFile verifies the snapshot file at path (format, checksum,
// contents, identity) and decodes it.
func ReadSnapshotFile(path string) (*SnapshotFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	b, err := consensus.ReadBackup(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, err := identity.ClusterFromBackup(b.Info.Identity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, consensus.ErrBadBackup, err)
	}
	return &SnapshotFile{Backup: b, Cluster: c}, nil
}

// RestoreSnapshot verifies the snapshot file and prepares dataDir, which
// must not exist or be empty, for an agent that starts a new cluster from
// it. The data dir is built beside it under a temporary name and renamed
// into place once complete: a failed restore leaves nothing behind.
func RestoreSnapshot(file, dataDir string) (*SnapshotFile, error) {
	snap, err := ReadSnapshotFile(file)
	if err != nil {
		return nil, err
	}
	dataDir = filepath.Clean(dataDir)
	entries, err := os.ReadDir(dataDir)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	case len(entries) > 0:
		return nil, fmt.Errorf("restore into %s: the data dir is not empty: a restore makes a new data dir (move this one away, or pick another --data-dir)", dataDir)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	if err := snap.Cluster.Save(tmp); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	if err := fsutil.CopyFile(file, filepath.Join(tmp, restorePendingFile), 0o600); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	if exists {
		if err := os.Remove(dataDir); err != nil { // empty, checked above
			return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
		}
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	done = true
	if d, err := os.Open(parent); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return snap, nil
}

// seedRestored gives a data dir prepared by RestoreSnapshot its raft state
// at the agent's first start, with this node as the only voter. It reports
// the snapshot it started from, or nil when there was none pending.
func seedRestored(dataDir, name, raftAddr string, logger *slog.Logger) (*SnapshotFile, error) {
	pending := filepath.Join(dataDir, restorePendingFile)
	if _, err := os.Stat(pending); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	_, err := consensus.InspectRaft(raftDir(dataDir), logger)
	switch {
	case err == nil: // seeded by a start that stopped before removing the file
		return nil, os.Remove(pending)
	case !errors.Is(err, consensus.ErrNoRaftState):
		return nil, err
	}
	snap, err := ReadSnapshotFile(pending)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := consensus.SeedRaft(raftDir(dataDir), name, raftAddr, snap.Store.Snapshot(), logger); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.Remove(pending); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return snap, nil
}
