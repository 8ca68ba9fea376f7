package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// walSegments reads the segment list of the (closed) raft-wal log under
// dataDir from its meta database.
func walSegments(t *testing.T, dataDir string) []types.SegmentInfo {
	t.Helper()
	var meta metadb.BoltMetaDB
	defer meta.Close()
	st, err := meta.Load(filepath.Join(dataDir, walDirName))
	if err != nil {
		t.Fatalf("read wal meta: %v", err)
	}
	return st.Segments
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
