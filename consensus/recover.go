package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/fsutil"
)

// RecoverResult is what RecoverRaft did.
type RecoverResult struct {
	// Before is the raft state as it was.
	Before RaftState
	// Index is the index of the snapshot the node restarts from: every
	// entry of its log, committed or not, applied.
	Index uint64
	// Objects and Claims count what the store holds at Index.
	Objects, Claims int
	// Backup is where the raft data as it was now lives.
	Backup string
}

// RecoverRaft makes the stopped node whose raft data is in dataDir the only
// voter of its cluster, at address addr, keeping everything in its log: the
// way out when a majority of voters is lost for good (hashicorp/raft's
// RecoverCluster; etcd's --force-new-cluster). Every entry the node has,
// committed or not, is applied to a store and written as a snapshot that
// holds the new configuration, and the log is emptied.
//
// The work is done on a copy; the original moves to Backup only once the
// copy is complete, so an interrupted recovery leaves the original in place.
func RecoverRaft(dataDir, nodeID, addr string, logger *slog.Logger) (RecoverResult, error) {
	var res RecoverResult
	if nodeID == "" || addr == "" {
		return res, errors.New("consensus: recover: a node id and a raft address are required")
	}
	before, err := InspectRaft(dataDir, logger)
	if err != nil {
		return res, err
	}
	res.Before = before
	work := dataDir + ".recover-tmp"
	if err := os.RemoveAll(work); err != nil { // a leftover of an interrupted recovery
		return res, fmt.Errorf("consensus: recover: %w", err)
	}
	if err := copyDir(dataDir, work); err != nil {
		_ = os.RemoveAll(work)
		return res, fmt.Errorf("consensus: recover: copy %s: %w", dataDir, err)
	}
	store, err := recoverIn(work, nodeID, addr, before.LastIndex, logger)
	if err != nil {
		_ = os.RemoveAll(work)
		return res, err
	}
	res.Index = store.Index()
	res.Objects, res.Claims = store.count()
	res.Backup = dataDir + ".before-recover-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(dataDir, res.Backup); err != nil {
		_ = os.RemoveAll(work)
		return res, fmt.Errorf("consensus: recover: keep the old raft data: %w", err)
	}
	if err := os.Rename(work, dataDir); err != nil {
		return res, fmt.Errorf("consensus: recover: the recovered raft data is in %s, the old in %s; move the first to %s: %w", work, res.Backup, dataDir, err)
	}
	fsutil.SyncDir(filepath.Dir(dataDir))
	return res, nil
}

// recoverIn runs raft.RecoverCluster on the raft data in dir and returns
// the store it built.
func recoverIn(dir, nodeID, addr string, lastIndex uint64, logger *slog.Logger) (*Store, error) {
	o, err := openOffline(dir, false, logger)
	if err != nil {
		return nil, err
	}
	defer o.close()
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(nodeID)
	conf.Logger = o.hl
	store := NewStore()
	f := &recoverFSM{fsm: fsm{store: store, logger: logger}, lastIndex: lastIndex}
	_, trans := raft.NewInmemTransport("")
	servers := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(addr)}}}
	if err := raft.RecoverCluster(conf, f, o.logs, o.logs, o.snaps, trans, servers); err != nil {
		return nil, fmt.Errorf("consensus: recover %s: %w", dir, err)
	}
	if err := o.close(); err != nil {
		return nil, fmt.Errorf("consensus: recover: close raft data: %w", err)
	}
	return store, nil
}

// recoverFSM is the FSM RecoverCluster replays the log into. Its snapshot
// is taken at the log's last index, which may be a configuration or no-op
// entry the store never saw: the store's index is moved up to it, so the
// restarted node's store and raft agree on where they are.
type recoverFSM struct {
	fsm
	lastIndex uint64
}

func (f *recoverFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.store.SetIndex(f.lastIndex)
	return f.fsm.Snapshot()
}

// SeedRaft gives a node that has no raft state yet the state of a one-voter
// cluster (nodeID at addr) whose store is snap: what a node restored from a
// backup starts from. The snapshot is taken as committed at its index in
// term 1, so writes of the new cluster continue the old resourceVersions.
func SeedRaft(dataDir, nodeID, addr string, snap *StoreSnapshot, logger *slog.Logger) error {
	if nodeID == "" || addr == "" {
		return errors.New("consensus: seed: a node id and a raft address are required")
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "wal"), 0o700); err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	o, err := openOffline(dataDir, true, logger)
	if err != nil {
		return err
	}
	defer o.close()
	has, err := raft.HasExistingState(o.logs, o.logs, o.snaps)
	if err != nil {
		return fmt.Errorf("consensus: seed %s: %w", dataDir, err)
	}
	if has {
		return fmt.Errorf("consensus: seed %s: the node already has raft state", dataDir)
	}
	index := max(snap.Index(), 1)
	const term = 1
	if err := o.logs.SetUint64([]byte("CurrentTerm"), term); err != nil {
		return fmt.Errorf("consensus: seed %s: %w", dataDir, err)
	}
	_, trans := raft.NewInmemTransport("")
	servers := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(addr)}}}
	sink, err := o.snaps.Create(1, index, term, servers, 1, trans)
	if err != nil {
		return fmt.Errorf("consensus: seed %s: %w", dataDir, err)
	}
	if _, err := snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("consensus: seed %s: %w", dataDir, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("consensus: seed %s: %w", dataDir, err)
	}
	return o.close()
}

// copyDir copies the tree at src to dst (which must not exist), keeping
// modes, and syncs every file.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			return fsutil.CopyFile(path, target, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: not a regular file", path)
		}
	})
}
