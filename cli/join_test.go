package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestJoin(t *testing.T) {
	ta := newTestApp(t, Deps{})
	// Flags after the address, as in `shoal join HOST:PORT --token T`.
	if err := ta.run("join", "10.0.0.1:7946", "--token", "SHOAL-1-a-b", "--name", "n2", "--join", "10.0.0.3:7946"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.3:7946", "10.0.0.1:7946"}; !reflect.DeepEqual(ta.agentCfg.Join, want) {
		t.Errorf("Join = %v, want %v", ta.agentCfg.Join, want)
	}
	if ta.agentCfg.Token != "SHOAL-1-a-b" || ta.agentCfg.Name != "n2" {
		t.Errorf("config = %+v", ta.agentCfg)
	}
}

func TestJoinNeedsAddressAndToken(t *testing.T) {
	ta := newTestApp(t, Deps{})
	if err := ta.run("join", "--token", "T"); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("no address: err = %v", err)
	}
	t.Setenv("SHOAL_TOKEN", "")
	if err := ta.run("join", "10.0.0.1:7946"); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("no token: err = %v", err)
	}
	if err := ta.run("join", "nohostport", "--token", "T"); err == nil || !strings.Contains(err.Error(), `--join: "nohostport"`) {
		t.Errorf("bad address: err = %v", err)
	}
	if ta.agentCfg != nil {
		t.Error("agent ran")
	}
}
