package cli

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/node"
)

// writeConfig writes a config file into a fresh temp dir and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAgentConfigFile(t *testing.T) {
	full := `
name: n1
data-dir: /tmp/x
bind: 10.0.0.1
gossip-port: 8946
join: [10.0.0.2:7946, "10.0.0.3:7946"]
token: SHOAL-1-a-b
voters: 5
voter-grace: 30s
run-pods: false
ingress-https-port: 0
registry-mirror:
  - gcr.io=http://127.0.0.1:5000
cluster-cidr: 10.50.0.0/16
log-level: debug
`
	fromFile := func(c *node.Config) {
		c.Name, c.DataDir, c.BindAddr, c.GossipPort = "n1", "/tmp/x", "10.0.0.1", 8946
		c.Join, c.Token, c.Voters, c.VoterGrace = []string{"10.0.0.2:7946", "10.0.0.3:7946"}, "SHOAL-1-a-b", 5, 30*time.Second
		c.RunPods, c.IngressHTTPSPort = false, 0
		c.RegistryMirrors = map[string]string{"gcr.io": "http://127.0.0.1:5000"}
		c.ClusterCIDR = netip.MustParsePrefix("10.50.0.0/16")
	}
	for _, tc := range []struct {
		name string
		file string
		cmd  string   // "agent" or "join"
		args []string // after the command, before --config
		env  string   // SHOAL_TOKEN, when set
		want func(*node.Config)
	}{
		{"values from the file", full, "agent", nil, "", fromFile},
		{"flags override the file", full, "agent", []string{"--name", "n2", "--voters", "3", "--join", "10.0.0.9:7946", "--run-pods=true"}, "", func(c *node.Config) {
			fromFile(c)
			c.Name, c.Voters, c.Join, c.RunPods = "n2", 3, []string{"10.0.0.9:7946"}, true
		}},
		{"join arguments add to the file's list", full, "join", []string{"10.0.0.4:7946"}, "", func(c *node.Config) {
			fromFile(c)
			c.Join = append(c.Join, "10.0.0.4:7946")
		}},
		{"SHOAL_TOKEN overrides the file", full, "agent", nil, "SHOAL-1-c-d", func(c *node.Config) {
			fromFile(c)
			c.Token = "SHOAL-1-c-d"
		}},
		{"an empty file changes nothing", "# nothing yet\n", "agent", nil, "", func(*node.Config) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SHOAL_TOKEN", tc.env)
			}
			ta := newTestApp(t, Deps{})
			args := append(append([]string{tc.cmd}, tc.args...), "--config", writeConfig(t, tc.file))
			if err := ta.run(args...); err != nil {
				t.Fatal(err)
			}
			want := node.DefaultConfig()
			tc.want(&want)
			if !reflect.DeepEqual(*ta.agentCfg, want) {
				t.Fatalf("config =\n%+v\nwant\n%+v", *ta.agentCfg, want)
			}
		})
	}
}

func TestAgentConfigFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for _, tc := range []struct {
		name string
		file string // "" for a missing file
		want []string
	}{
		{"unknown key", "name: a\nnmae: b\n", []string{"line 2: unknown key \"nmae\""}},
		{"check is not a key", "check: true\n", []string{"unknown key \"check\""}},
		{"int as string", "voters: \"3\"\n", []string{"line 1: voters: want an integer, got a string"}},
		{"int as word", "gossip-port: lots\n", []string{"gossip-port: want an integer"}},
		{"bool", "run-pods: 1\n", []string{"run-pods: want true or false, got an integer"}},
		{"list as string", "join: 10.0.0.2:7946\n", []string{"join: want a list of strings"}},
		{"list of lists", "join:\n  - [a]\n", []string{"line 2: join: item 1: want a string, got a list"}},
		{"string as list", "name: [a, b]\n", []string{"name: want a string, got a list"}},
		{"no value", "data-dir:\n", []string{"data-dir: want a string, got no value"}},
		{"duration", "voter-grace: 30\n", []string{"voter-grace: \"30\" is not a duration"}},
		{"not a mapping", "- name\n", []string{"line 1: want a mapping"}},
		{"YAML syntax", "name: a\n  bind: [\n", []string{"yaml: line"}},
		{"duplicate key", "name: a\nname: b\n", []string{"line 2: name: already set on line 1"}},
		{"every problem at once", "nmae: a\nvoters: x\n", []string{"unknown key \"nmae\"", "voters: want an integer"}},
		{"token is not echoed", "token: [SHOAL-1-secret]\n", []string{"token: want a string, got a list"}},
		{"missing file", "", []string{"--config " + missing + ": no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := missing
			if tc.file != "" {
				path = writeConfig(t, tc.file)
			}
			ta := newTestApp(t, Deps{})
			err := ta.run("agent", "--config", path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, "--config "+path+":") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("err = %v: echoes the token", err)
			}
			if ta.agentCfg != nil {
				t.Error("the agent ran despite the error")
			}
		})
	}
}

// TestEveryFlagIsAConfigKey: the keys come from agentFlags, and the
// example file documents each one.
func TestEveryFlagIsAConfigKey(t *testing.T) {
	keys := configKeys(agentFlags(node.DefaultConfig()))
	example, err := os.ReadFile("../contrib/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range agentFlags(node.DefaultConfig()) {
		name := f.Names()[0]
		if notConfigKeys[name] {
			continue
		}
		if keys[name] == nil {
			t.Errorf("--%s has no key", name)
		}
		if !strings.Contains(string(example), "\n# "+name+":") {
			t.Errorf("contrib/config.yaml does not document %s (as a line \"# %s: ...\")", name, name)
		}
	}
	// The example, uncommented, is a valid file.
	var lines []string
	for _, l := range strings.Split(string(example), "\n") {
		rest, ok := strings.CutPrefix(l, "# ")
		if key, _, found := strings.Cut(rest, ":"); ok && found && keys[key] != nil {
			lines = append(lines, rest)
		}
	}
	ta := newTestApp(t, Deps{})
	if err := ta.run("agent", "--config", writeConfig(t, strings.Join(lines, "\n"))); err != nil {
		t.Fatalf("contrib/config.yaml uncommented:\n%s\nerr = %v", strings.Join(lines, "\n"), err)
	}
}
