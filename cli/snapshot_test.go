package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/identity"
)

// snapshotServer serves body at the snapshot path to the bearer token
// "tok", over TLS (client-go sends no credentials in the clear).
func snapshotServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != node.SnapshotPath || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func backupBytes(t *testing.T) []byte {
	t.Helper()
	c, err := identity.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.MarshalBackup()
	var buf bytes.Buffer
	if err := consensus.WriteBackup(&buf, consensus.BackupInfo{Created: time.Now(), Source: "node-b", Identity: id}, consensus.NewStore().Snapshot()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotSave(t *testing.T) {
	isolateKubeconfig(t)
	full := backupBytes(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")

	srv := snapshotServer(t, full)
	ta := newTestApp(t, Deps{})
	if err := ta.run("snapshot", "save", file, "--server", srv.URL, "--token", "tok", "--insecure-skip-tls-verify", "--data-dir", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if out := ta.stdout.String(); !strings.Contains(out, "Snapshot saved to "+file+": taken by node-b") || !strings.Contains(out, "holds the cluster CA key and secret") {
		t.Fatalf("save printed:\n%s", out)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, mode %v; want 0600", err, fi)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, full) {
		t.Fatalf("saved %d bytes, served %d", len(got), len(full))
	}

	// A download cut short is refused, and nothing is left: not the file,
	// not a temporary one.
	cut := snapshotServer(t, full[:len(full)-20])
	other := filepath.Join(dir, "cut.snap")
	ta = newTestApp(t, Deps{})
	err = ta.run("snapshot", "save", other, "--server", cut.URL, "--token", "tok", "--insecure-skip-tls-verify", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "the downloaded snapshot is not valid") || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("save of a cut download: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("after a failed save the dir holds %v, want only the first file", entries)
	}

	// A refusal by the server says so.
	ta = newTestApp(t, Deps{})
	err = ta.run("snapshot", "save", other, "--server", srv.URL, "--token", "wrong", "--insecure-skip-tls-verify", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Fatalf("save with a wrong token: %v", err)
	}
}

func TestSnapshotStatusAndRestore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.snap")
	os.WriteFile(file, backupBytes(t), 0o600)
	ta := newTestApp(t, Deps{})
	if err := ta.run("snapshot", "status", file); err != nil {
		t.Fatal(err)
	}
	if out := ta.stdout.String(); !strings.Contains(out, "valid; taken by node-b") {
		t.Fatalf("status printed %q", out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	ta = newTestApp(t, Deps{})
	if err := ta.run("snapshot", "restore", file, "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	if out := ta.stdout.String(); !strings.Contains(out, "Restored "+file+" into "+dir) || !strings.Contains(out, "shoal agent --data-dir "+dir) {
		t.Fatalf("restore printed:\n%s", out)
	}
	ta = newTestApp(t, Deps{})
	if err := ta.run("snapshot", "restore", file, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second restore into the same dir: %v", err)
	}
}

func TestRecoverFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--inspect", "--reset"}, "--inspect and --reset cannot be used together"},
		{[]string{"--join", "10.0.0.1:7946"}, "--join goes with --reset"},
		{[]string{"--inspect", "--name", "x"}, "--name and --raft-addr go with a recovery"},
		{[]string{"-o", "json"}, "only -o json, with --inspect"},
		{[]string{"--inspect", "-o", "yaml"}, "only -o json, with --inspect"},
	} {
		ta := newTestApp(t, Deps{})
		err := ta.run(append([]string{"recover", "--data-dir", t.TempDir()}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("recover %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	ta := newTestApp(t, Deps{})
	err := ta.run("recover", "--inspect", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not the data dir of a shoal agent") {
		t.Fatalf("recover --inspect on an empty dir: %v", err)
	}
	dir, _ := agentDataDir(t)
	ta = newTestApp(t, Deps{})
	err = ta.run("recover", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "no raft state") {
		t.Fatalf("recover of a data dir without raft state: %v", err)
	}
}
