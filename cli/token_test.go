package cli

import (
	"strings"
	"testing"

	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/identity"
)

// agentDataDir makes a data dir as a running agent leaves it: a cluster
// identity and the agent's AgentInfo.
func agentDataDir(t *testing.T) (string, *identity.Cluster) {
	t.Helper()
	dir := t.TempDir()
	c, err := identity.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	info := node.AgentInfo{Name: "n1", AdvertiseAddr: "10.0.0.1", GossipPort: 7946, RaftPort: 7947, APIPort: 6443}
	if err := node.WriteAgentInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	return dir, c
}

func TestToken(t *testing.T) {
	dir, c := agentDataDir(t)
	ta := newTestApp(t, Deps{})
	if err := ta.run("token", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	want := "shoal join 10.0.0.1:7946 --token " + c.JoinToken() + "\n"
	if ta.stdout.String() != want {
		t.Fatalf("token printed %q, want %q", ta.stdout.String(), want)
	}
	if !strings.HasPrefix(c.JoinToken(), "SHOAL-1-") {
		t.Errorf("unexpected token shape %q", c.JoinToken())
	}
}

func TestTokenWithoutAgent(t *testing.T) {
	ta := newTestApp(t, Deps{})
	err := ta.run("token", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "has `shoal agent` run") {
		t.Fatalf("err = %v", err)
	}
}
