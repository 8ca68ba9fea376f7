package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// smallSegments is testTuning with 4 KiB log segments, so that a few dozen
// writes fill several segment files.
func smallSegments() *RaftTuning {
	t := testTuning
	t.WALSegmentSize = 4096
	return &t
}

// walState reads the metadata of the (closed) raft-wal log under dataDir.
func walState(t *testing.T, dataDir string) types.PersistentState {
	t.Helper()
	if err := checkUnlocked(filepath.Join(dataDir, walDirName, metadb.FileName)); err != nil {
		t.Fatal(err) // bolt would wait for the lock forever
	}
	var meta metadb.BoltMetaDB
	defer meta.Close()
	st, err := meta.Load(filepath.Join(dataDir, walDirName))
	if err != nil {
		t.Fatalf("read wal meta: %v", err)
	}
	return st
}

// walSegments reads the segment list of the (closed) raft-wal log under
// dataDir.
func walSegments(t *testing.T, dataDir string) []types.SegmentInfo {
	t.Helper()
	return walState(t, dataDir).Segments
}

func segmentPath(dataDir string, si types.SegmentInfo) string {
	return filepath.Join(dataDir, walDirName, segment.FileName(si))
}

// overwrite writes b at off in the file at path.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func repeatByte(b byte, n int) []byte { return []byte(strings.Repeat(string([]byte{b}), n)) }

// wantDamaged checks that err is a *DamagedStoreError naming file, and that
// its message says what to do.
func wantDamaged(t *testing.T, err error, dataDir, file string) *DamagedStoreError {
	t.Helper()
	var damaged *DamagedStoreError
	if !errors.As(err, &damaged) {
		t.Fatalf("NewRaft error = %v, want a DamagedStoreError naming %s", err, file)
	}
	if damaged.File != file {
		t.Fatalf("damaged file = %s, want %s (error: %v)", damaged.File, file, err)
	}
	msg := err.Error()
	for _, want := range []string{file, "mv " + dataDir + " " + dataDir + ".damaged", "shoal recover"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("NewRaft: %v", err)
	return damaged
}

// A damaged log segment or meta database stops NewRaft with an error that
// names the file and says what to do; raft's own panic on an unreadable
// entry is caught.
func TestRaftDamagedLogIsReportedNotPanicked(t *testing.T) {
	healthy := t.TempDir()
	n := &testNode{id: "solo", dir: healthy, tuning: smallSegments()}
	n.start(t, true)
	eventually(t, "leader", n.raft.IsLeader)
	ctx := testCtx(t)
	for i := range 60 {
		if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprint("obj", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	n.stop(t)
	segs := walSegments(t, healthy)
	if len(segs) < 4 {
		t.Fatalf("%d segments, want at least 4 (3 sealed)", len(segs))
	}
	victim := segs[1] // sealed, in the middle of the log
	entries := int(victim.MaxIndex - victim.BaseIndex + 1)

	cases := []struct {
		name   string
		damage func(t *testing.T, dataDir string) (file string)
		panics bool // raft.NewRaft itself panics on this damage
	}{
		{"index block overwritten", func(t *testing.T, dir string) string {
			p := segmentPath(dir, victim)
			overwrite(t, p, int64(victim.IndexStart), repeatByte(0xff, 4*entries))
			return p
		}, true},
		{"file cut short", func(t *testing.T, dir string) string {
			p := segmentPath(dir, victim)
			if err := os.Truncate(p, int64(victim.IndexStart)/2); err != nil {
				t.Fatal(err)
			}
			return p
		}, true},
		{"header overwritten", func(t *testing.T, dir string) string {
			p := segmentPath(dir, victim)
			overwrite(t, p, 0, repeatByte(0, 32))
			return p
		}, false},
		{"segment file missing", func(t *testing.T, dir string) string {
			p := segmentPath(dir, victim)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, false},
		{"meta database missing", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, walDirName, metadb.FileName)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "raft")
			if err := os.CopyFS(dir, os.DirFS(healthy)); err != nil {
				t.Fatal(err)
			}
			file := tc.damage(t, dir)
			d := &testNode{id: "solo", dir: dir, tuning: smallSegments()}
			err := d.tryStart(t, false)
			if err == nil {
				d.stop(t)
			}
			damaged := wantDamaged(t, err, dir, file)
			panicked := damaged.Failure != nil && strings.Contains(damaged.Failure.Error(), "panicked")
			if panicked != tc.panics {
				t.Errorf("the failure behind the diagnosis (%v) was a panic: %v, want %v", damaged.Failure, panicked, tc.panics)
			}
		})
	}
}

// A second NewRaft on a data dir in use fails at once instead of waiting
// for the log's lock forever.
func TestRaftStateInUseIsAnError(t *testing.T) {
	n := &testNode{id: "solo", dir: t.TempDir()}
	n.start(t, true)
	defer n.stop(t)
	done := make(chan error, 1)
	go func() {
		r, err := NewRaft(RaftConfig{NodeID: "solo", DataDir: n.dir, BindAddr: "127.0.0.1:0", Logger: testLogger(t)}, NewStore())
		if err == nil {
			_ = r.Shutdown()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("NewRaft on a data dir in use still waits after 10s")
	}
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("NewRaft on a data dir in use: %v, want an error saying it is in use", err)
	}
}

// A snapshot whose state no longer matches its checksum, when it is the
// only one and the log no longer covers what it held, is named.
func TestRaftDamagedSnapshotIsReported(t *testing.T) {
	tuning := *smallSegments()
	tuning.TrailingLogs = 1
	dir := t.TempDir()
	n := &testNode{id: "solo", dir: dir, tuning: &tuning}
	n.start(t, true)
	eventually(t, "leader", n.raft.IsLeader)
	ctx := testCtx(t)
	for i := range 40 {
		if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprint("obj", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	n.stop(t)
	snaps, _ := filepath.Glob(filepath.Join(dir, snapshotDirName, "*", "state.bin"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots: %v, want one", snaps)
	}
	overwrite(t, snaps[0], 10, []byte("damage"))

	err := n.tryStart(t, false)
	if err == nil {
		n.stop(t)
	}
	wantDamaged(t, err, dir, filepath.Dir(snaps[0]))
}

// The advice of a DamagedStoreError works: a follower whose log is damaged
// comes back with every object once its raft directory is moved aside.
func TestRaftDamagedFollowerRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a three-node cluster")
	}
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	leader := waitLeader(t, nodes)
	for i := range 40 {
		if _, err := leader.raft.Propose(ctx, createCmd("ns", fmt.Sprint("obj", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	f := followers(nodes)[0]
	if err := f.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	f.stop(t)
	segs := walSegments(t, f.dir)
	file := segmentPath(f.dir, segs[0])
	overwrite(t, file, 0, repeatByte(0, 32))
	err := f.tryStart(t, false)
	if err == nil {
		t.Fatal("NewRaft started from a damaged log")
	}
	wantDamaged(t, err, f.dir, file)

	if err := os.Rename(f.dir, f.dir+".damaged"); err != nil {
		t.Fatal(err)
	}
	f.start(t, false)
	eventually(t, "the follower knows the leader again", func() bool {
		id, _ := f.raft.Leader()
		return id == leader.id
	})
	if err := f.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := f.store.List("configmaps", "", "", 0); len(items) != 40 {
		t.Fatalf("rejoined follower has %d objects, want 40", len(items))
	}
}

// logEntryData is the payload of the entry at idx appended in batch gen:
// 40 to 600 bytes that say which entry they are.
func logEntryData(idx, gen uint64) []byte {
	head := fmt.Sprintf("%d/%x/", idx, gen)
	n := 40 + int((idx*7919+gen)%560)
	return []byte(head + strings.Repeat("x", n-len(head)))
}

// appendLogEntries appends entries from..to of batch 1, one at a time.
func appendLogEntries(t *testing.T, logs *wal.WAL, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := logs.StoreLogs([]*raft.Log{{Index: i, Term: 1, Data: logEntryData(i, 1)}}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// sealedTailLog writes a new log in dataDir, entry by entry, until a
// segment fills up and is sealed, then rolls the metadata back to the
// instant before it recorded the seal: what a kill at that instant leaves.
// It returns the last index and the sealed segment.
func sealedTailLog(t *testing.T, dataDir string, segmentSize int) (last uint64, sealed types.SegmentInfo) {
	t.Helper()
	logs, err := openLogStore(dataDir, segmentSize, newHCLogAdapter(testLogger(t), "wal"))
	if err != nil {
		t.Fatal(err)
	}
	files := func() int {
		m, _ := filepath.Glob(filepath.Join(dataDir, walDirName, "*.wal"))
		return len(m)
	}
	for n := files(); files() == n; {
		last++
		appendLogEntries(t, logs, last, last)
		// A no-op delete waits for a rotation in progress; Close does not
		// (it leaves the very state made here).
		if err := logs.DeleteRange(last+1, last+1); err != nil {
			t.Fatal(err)
		}
	}
	logs.Close()

	var meta metadb.BoltMetaDB
	defer meta.Close()
	st, err := meta.Load(filepath.Join(dataDir, walDirName))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Segments); n < 2 || st.Segments[n-1].BaseIndex != last+1 {
		t.Fatalf("segments after a rotation: %+v, want an empty tail from %d", st.Segments, last+1)
	}
	st.Segments = st.Segments[:len(st.Segments)-1]
	tail := &st.Segments[len(st.Segments)-1]
	sealed = *tail
	tail.SealTime, tail.IndexStart, tail.MaxIndex = time.Time{}, 0, 0
	if err := meta.CommitState(st); err != nil {
		t.Fatal(err)
	}
	return last, sealed
}

// checkLogHolds opens the log in dataDir and checks that it holds entries
// 1..last of batch 1 and takes 40 more (through rotations); it returns
// the new last index.
func checkLogHolds(t *testing.T, dataDir string, segmentSize int, last uint64) uint64 {
	t.Helper()
	logs, err := openLogStore(dataDir, segmentSize, newHCLogAdapter(testLogger(t), "wal"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	first, _ := logs.FirstIndex()
	if got, _ := logs.LastIndex(); first != 1 || got != last {
		t.Fatalf("the log holds %d..%d, want 1..%d", first, got, last)
	}
	for i := uint64(1); i <= last; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil || !bytes.Equal(l.Data, logEntryData(i, 1)) {
			t.Fatalf("entry %d: %v, data %.30q", i, err, l.Data)
		}
	}
	appendLogEntries(t, logs, last+1, last+40)
	return last + 40
}

// A kill after a segment wrote its index block (it filled up) and before
// the metadata recorded the seal leaves a tail whose file says sealed:
// raft-wal alone reopens it and then refuses every append. openLogStore
// moves its entries to a new tail. Here also lies the unreferenced file
// of an earlier repair cut short.
func TestWALRepairsTailSealedBeforeItsMetadata(t *testing.T) {
	dataDir := t.TempDir()
	last, sealed := sealedTailLog(t, dataDir, 4096)
	st := walState(t, dataDir)
	orphan := segmentPath(dataDir, types.SegmentInfo{BaseIndex: sealed.MinIndex, ID: st.NextSegmentID})
	st.NextSegmentID++
	var meta metadb.BoltMetaDB
	if _, err := meta.Load(filepath.Join(dataDir, walDirName)); err != nil {
		t.Fatal(err)
	}
	if err := meta.CommitState(st); err != nil {
		t.Fatal(err)
	}
	meta.Close()
	if err := os.WriteFile(orphan, []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	last = checkLogHolds(t, dataDir, 4096, last)
	checkLogHolds(t, dataDir, 4096, last)
	for _, p := range []string{orphan, segmentPath(dataDir, sealed)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v), want it deleted as unreferenced", filepath.Base(p), err)
		}
	}
}

// What a kill leaves in the snapshot directory at each step of raft's
// FileSnapshotStore (state written into <id>.tmp, then meta.json, then the
// rename, then old snapshots reaped) does not stop a restart, loses no
// object, and is cleaned up.
func TestRaftStartsAfterKillsInSnapshotWrites(t *testing.T) {
	dir := t.TempDir()
	n := &testNode{id: "solo", dir: dir, tuning: smallSegments()}
	n.tuning.TrailingLogs = 4
	n.start(t, true)
	eventually(t, "leader", n.raft.IsLeader)
	ctx := testCtx(t)
	want := 0
	write := func(k int) {
		for range k {
			if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprint("obj", want), nil)); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	write(20)
	if err := n.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	write(10)
	if err := n.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	write(5)
	n.stop(t)

	snapDir := filepath.Join(dir, snapshotDirName)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetain, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	list, err := snaps.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("snapshots: %v, %v; want 2", list, err)
	}
	newest := filepath.Join(snapDir, list[0].ID)
	term, index, ms := list[0].Term, list[0].Index, uint64(time.Now().UnixMilli())
	copySnap := func(name string) string {
		p := filepath.Join(snapDir, name)
		if err := os.CopyFS(p, os.DirFS(newest)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Killed while writing the state: no meta.json, half the state.
	partial := copySnap(fmt.Sprintf("%d-%d-%d.tmp", term, index+50, ms+1))
	if err := os.Remove(filepath.Join(partial, "meta.json")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(partial, "state.bin"))
	if err := os.Truncate(filepath.Join(partial, "state.bin"), st.Size()/2); err != nil {
		t.Fatal(err)
	}
	// Killed after meta.json, before the rename.
	copySnap(fmt.Sprintf("%d-%d-%d.tmp", term, index+60, ms+2))
	// Killed while reaping an old snapshot, after its meta.json went.
	reaped := filepath.Join(snapDir, "1-1-1")
	if err := os.MkdirAll(reaped, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(reaped, "state.bin"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}

	n.start(t, false)
	defer n.stop(t)
	eventually(t, "leader", n.raft.IsLeader)
	if err := n.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := n.store.List("configmaps", "", "", 0); len(items) != want {
		t.Fatalf("after the restart: %d objects, want %d", len(items), want)
	}
	checkSnapshotDir(t, dir, "restart")
	if _, err := os.Stat(newest); err != nil {
		t.Fatalf("the newest complete snapshot is gone: %v", err)
	}
}

// checkSnapshotDir checks that the snapshot directory holds only complete
// snapshots (each with its meta.json): nothing a crash left behind
// survives a restart. (A kill between a snapshot's rename and the reaping
// of old ones leaves one more complete snapshot than raft retains; the
// next snapshot reaps it.)
func checkSnapshotDir(t *testing.T, dataDir, what string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, snapshotDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") || missing(filepath.Join(dataDir, snapshotDirName, e.Name(), "meta.json")) {
			t.Errorf("%s: after the restart the snapshot directory holds %s, which is not a complete snapshot", what, e.Name())
		}
	}
}
