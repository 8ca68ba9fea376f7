package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Offline access to a stopped node's raft data (RaftConfig.DataDir): what
// `shoal recover` inspects and rewrites. The layout is NewRaft's: the
// raft-wal log and stable store in DataDir/wal, file snapshots in
// DataDir/snapshots.

var (
	// ErrNoRaftState means a data dir holds no raft state (never started,
	// or reset).
	ErrNoRaftState = errors.New("no raft state")
	// ErrRaftInUse means a running agent holds the raft data.
	ErrRaftInUse = errors.New("raft data in use by a running agent")
)

// RaftState is what a stopped node's raft data says about it: enough to
// tell which survivor of a lost cluster is the most up to date (the highest
// LastTerm, then the highest LastIndex: raft's own election rule).
type RaftState struct {
	// LastIndex and LastTerm are those of the last entry in the log, or of
	// the latest snapshot when the log holds nothing after it. The log may
	// end with entries that were never committed.
	LastIndex, LastTerm uint64
	// CurrentTerm is the latest term the node had seen.
	CurrentTerm uint64
	// SnapshotIndex and SnapshotTerm are those of the latest snapshot (0
	// without one).
	SnapshotIndex, SnapshotTerm uint64
	// Servers is the latest raft configuration the data holds (committed
	// or not), written at ConfigIndex.
	Servers     []Server
	ConfigIndex uint64
}

// offlineStores are a stopped node's raft stores, opened without raft.
type offlineStores struct {
	dir   string
	hl    hclog.Logger
	logs  *wal.WAL
	snaps *raft.FileSnapshotStore
	// closed makes close idempotent.
	closed bool
}

// openOffline opens the raft stores under dataDir as a running node does
// (openLogStore, openSnapshotStore), creating them when create is set.
// Without it, it refuses with ErrNoRaftState when there are none. It
// refuses with ErrRaftInUse when an agent holds them (instead of waiting
// for its lock).
func openOffline(dataDir string, create bool, logger *slog.Logger) (*offlineStores, error) {
	walDir := filepath.Join(dataDir, walDirName)
	if _, err := os.Stat(filepath.Join(walDir, metadb.FileName)); !create && errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(dataDir, snapshotDirName)); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("consensus: %s: %w", dataDir, ErrNoRaftState)
		}
	}
	hl := newHCLogAdapter(logger, "raft")
	logs, err := openLogStore(dataDir, 0, hl.Named("wal"))
	if err != nil {
		return nil, err
	}
	snaps, err := openSnapshotStore(dataDir, hl.Named("snapshots"))
	if err != nil {
		_ = logs.Close()
		return nil, err
	}
	return &offlineStores{dir: dataDir, hl: hl, logs: logs, snaps: snaps}, nil
}

// close closes the log (and with it the meta database); later calls do
// nothing.
func (o *offlineStores) close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	return o.logs.Close()
}

// InspectRaft reads the raft state of a stopped node from dataDir (a
// RaftConfig.DataDir). It changes nothing.
func InspectRaft(dataDir string, logger *slog.Logger) (RaftState, error) {
	o, err := openOffline(dataDir, false, logger)
	if err != nil {
		return RaftState{}, err
	}
	st, err := o.inspect()
	return st, errors.Join(err, o.close())
}

func (o *offlineStores) inspect() (RaftState, error) {
	var st RaftState
	has, err := raft.HasExistingState(o.logs, o.logs, o.snaps)
	if err != nil {
		return st, fmt.Errorf("consensus: inspect %s: %w", o.dir, err)
	}
	if !has {
		return st, fmt.Errorf("consensus: %s: %w", o.dir, ErrNoRaftState)
	}
	st.CurrentTerm, _ = o.logs.GetUint64([]byte("CurrentTerm"))
	metas, err := o.snaps.List()
	if err != nil {
		return st, fmt.Errorf("consensus: list snapshots in %s: %w", o.dir, err)
	}
	var snapConf raft.Configuration
	if len(metas) > 0 {
		st.SnapshotIndex, st.SnapshotTerm = metas[0].Index, metas[0].Term
		snapConf, st.ConfigIndex = metas[0].Configuration, metas[0].ConfigurationIndex
	}
	st.LastIndex, st.LastTerm = st.SnapshotIndex, st.SnapshotTerm
	first, err := o.logs.FirstIndex()
	if err != nil {
		return st, fmt.Errorf("consensus: read log of %s: %w", o.dir, err)
	}
	last, err := o.logs.LastIndex()
	if err != nil {
		return st, fmt.Errorf("consensus: read log of %s: %w", o.dir, err)
	}
	if last > 0 && last >= st.SnapshotIndex {
		var l raft.Log
		if err := o.logs.GetLog(last, &l); err != nil {
			return st, fmt.Errorf("consensus: read log entry %d of %s: %w", last, o.dir, err)
		}
		st.LastIndex, st.LastTerm = l.Index, l.Term
	}
	conf, confIndex, err := o.latestLogConfiguration(first, last, st.ConfigIndex)
	if err != nil {
		return st, err
	}
	if confIndex == 0 {
		conf = snapConf
	} else {
		st.ConfigIndex = confIndex
	}
	for _, s := range conf.Servers {
		st.Servers = append(st.Servers, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	slices.SortFunc(st.Servers, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	return st, nil
}

// latestLogConfiguration scans the log backwards for the last
// configuration entry after index after; confIndex 0 means none.
func (o *offlineStores) latestLogConfiguration(first, last, after uint64) (conf raft.Configuration, confIndex uint64, err error) {
	if last == 0 {
		return conf, 0, nil
	}
	for i := last; i >= first && i > after && i > 0; i-- {
		var l raft.Log
		if err := o.logs.GetLog(i, &l); err != nil {
			return conf, 0, fmt.Errorf("consensus: read log entry %d of %s: %w", i, o.dir, err)
		}
		if l.Type == raft.LogConfiguration {
			conf, err := decodeConfiguration(l.Data)
			if err != nil {
				return conf, 0, fmt.Errorf("consensus: configuration entry %d of %s: %w", i, o.dir, err)
			}
			return conf, i, nil
		}
	}
	return conf, 0, nil
}

// decodeConfiguration is raft.DecodeConfiguration, which panics on bad
// input, as an error.
func decodeConfiguration(b []byte) (conf raft.Configuration, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("undecodable: %v", r)
		}
	}()
	return raft.DecodeConfiguration(b), nil
}
