package node

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/identity"
)

// snapshotFile writes a snapshot of a store with one ConfigMap and the
// identity c to a file and returns its path.
func snapshotFile(t *testing.T, c *identity.Cluster) string {
	t.Helper()
	st := consensus.NewStore()
	obj, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cm"}, "data": map[string]string{"k": "v"}})
	if _, err := consensus.NewLocalProposer(st).Propose(t.Context(), &consensus.Command{Op: consensus.OpCreate, Resource: "configmaps", Namespace: "default", Name: "cm", Object: obj, UID: "u1", Time: "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	id, err := c.MarshalBackup()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := consensus.WriteBackup(&buf, consensus.BackupInfo{Created: time.Now(), Source: "old-a", Identity: id}, st.Snapshot()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.snap")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSnapshotRestorePreparesAFreshDataDir(t *testing.T) {
	c, err := identity.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	file := snapshotFile(t, c)
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	snap, err := RestoreSnapshot(file, dir)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Objects != 1 || snap.Info.Source != "old-a" {
		t.Fatalf("restored %d objects from %q, want 1 from old-a", snap.Objects, snap.Info.Source)
	}
	loaded, err := identity.LoadCluster(dir)
	if err != nil || loaded.JoinToken() != c.JoinToken() {
		t.Fatalf("identity of the restored data dir: %v (join token kept: %v)", err, err == nil && loaded.JoinToken() == c.JoinToken())
	}
	if fi, err := os.Stat(filepath.Join(dir, restorePendingFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pending snapshot: %v (mode %v), want it 0600", err, fi)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("beside the data dir: %v, want nothing left of the temporary dir", entries)
	}

	// The agent's first start seeds raft from it, once.
	got, err := seedRestored(dir, "new-a", "127.0.0.1:7947", nil)
	if err != nil || got == nil || got.Objects != 1 {
		t.Fatalf("seed: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, restorePendingFile)); !os.IsNotExist(err) {
		t.Fatalf("the pending snapshot is still there after the seed: %v", err)
	}
	st, err := consensus.InspectRaft(raftDir(dir), nil)
	if err != nil || len(st.Servers) != 1 || st.Servers[0].ID != "new-a" || st.Servers[0].Address != "127.0.0.1:7947" {
		t.Fatalf("raft state after the seed: %+v, %v; want new-a the only voter", st, err)
	}
	if again, err := seedRestored(dir, "new-a", "127.0.0.1:7947", nil); err != nil || again != nil {
		t.Fatalf("a second start seeded again: %+v, %v", again, err)
	}
}

func TestSnapshotRestoreRefusals(t *testing.T) {
	c, _ := identity.NewCluster()
	file := snapshotFile(t, c)

	used := t.TempDir()
	os.WriteFile(filepath.Join(used, "agent.json"), []byte("{}"), 0o600)
	if _, err := RestoreSnapshot(file, used); err == nil || !strings.Contains(err.Error(), "the data dir is not empty") {
		t.Fatalf("restore into a used data dir: %v", err)
	}

	b, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.snap")
	os.WriteFile(cut, b[:len(b)-10], 0o600)
	parent := t.TempDir()
	_, err := RestoreSnapshot(cut, filepath.Join(parent, "data"))
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("restore of a truncated file: %v, want a truncation error", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a failed restore left %v behind", entries)
	}
}
