package identity

import (
	"encoding/json"
	"strings"
	"testing"
)

// The identity a snapshot carries restores the same cluster: the same CA,
// join token and admin token.
func TestSnapshotIdentityRoundTrip(t *testing.T) {
	c := newTestCluster(t)
	b, err := c.MarshalBackup()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ClusterFromBackup(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.CAHash() != c.CAHash() || got.JoinToken() != c.JoinToken() || got.AdminToken() != c.AdminToken() {
		t.Fatalf("restored identity differs: CA %s vs %s", got.CAHash(), c.CAHash())
	}
	dir := t.TempDir()
	if err := got.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCluster(dir)
	if err != nil || loaded.JoinToken() != c.JoinToken() {
		t.Fatalf("saved and loaded: %v", err)
	}
}

func TestSnapshotIdentityRejectsMismatch(t *testing.T) {
	a, b := newTestCluster(t), newTestCluster(t)
	ab, _ := a.MarshalBackup()
	bb, _ := b.MarshalBackup()
	var mixed, other backupIdentity
	json.Unmarshal(ab, &mixed)
	json.Unmarshal(bb, &other)
	mixed.CAKey = other.CAKey
	raw, _ := json.Marshal(mixed)
	if _, err := ClusterFromBackup(raw); err == nil || !strings.Contains(err.Error(), "CA key does not match the CA certificate") {
		t.Fatalf("a CA with another cluster's key: %v", err)
	}
	mixed = other
	mixed.Secret = "abcd"
	raw, _ = json.Marshal(mixed)
	if _, err := ClusterFromBackup(raw); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("a short secret: %v", err)
	}
}
