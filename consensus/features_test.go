package consensus

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoal-project/shoal/internal/version"
)

func TestEvaluateFeatures(t *testing.T) {
	f := Feature{Name: "f", Since: version.V{Minor: 2}}
	three := []Server{{ID: "a", Voter: true}, {ID: "b", Voter: true}, {ID: "c"}}
	known := func(vs ...string) []KnownServer {
		var out []KnownServer
		for i, v := range vs {
			out = append(out, KnownServer{ID: string(rune('a' + i)), Version: v, Status: ServerAlive})
		}
		return out
	}
	tests := []struct {
		name    string
		servers []Server
		known   []KnownServer
		want    bool
		waiting []string
	}{
		{"every server new", three, known("v0.2.0", "v0.2.0", "v0.2.0"), true, nil},
		{"newer than needed", three, known("v0.2.0", "v0.3.1", "v1.0.0"), true, nil},
		{"pre-release of the release counts", three, known("v0.2.0-rc.1", "v0.2.0", "v0.2.0+dev"), true, nil},
		{"a legacy voter", three, known("v0.2.0", "v1.32.4-shoal", "v0.2.0"), false, []string{"b (v1.32.4-shoal)"}},
		// Non-voters apply every entry too.
		{"a legacy non-voter", three, known("v0.2.0", "v0.2.0", "v0.1.9"), false, []string{"c (v0.1.9)"}},
		{"a server gossip does not know", three, known("v0.2.0", "v0.2.0"), false, []string{"c (not in gossip)"}},
		{"an unreadable version", three, known("v0.2.0", "", "v0.2.0"), false, []string{`b (version "" unreadable)`}},
		{"several hold it back, sorted", three, known("v1.32.4-shoal", "v0.2.0", "dev"), false,
			[]string{`a (v1.32.4-shoal)`, `c (version "dev" unreadable)`}},
		// A member gossip knows but raft does not hold is not asked.
		{"gossip-only old member", three[:2], known("v0.2.0", "v0.2.0", "v0.1.0"), true, nil},
		{"no configuration", nil, known("v0.2.0"), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := evaluateFeatures([]Feature{f}, tc.servers, tc.known)
			if len(got) != 1 || got[0].Enabled != tc.want || !slices.Equal(got[0].Waiting, tc.waiting) {
				t.Fatalf("evaluateFeatures = %+v, want enabled=%v waiting=%q", got, tc.want, tc.waiting)
			}
		})
	}
}

// Every declared feature belongs to a release this binary is, or is
// newer than: a feature from the future would never turn on here.
func TestFeaturesDeclared(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Features() {
		if f.Name == "" || f.Summary == "" || seen[f.Name] {
			t.Errorf("feature %+v: needs a unique name and a summary", f)
		}
		seen[f.Name] = true
		if !version.Current().AtLeast(f.Since) {
			t.Errorf("feature %s since %s, newer than this binary's %s", f.Name, f.Since, version.Version)
		}
	}
}

func TestLogFeatureChanges(t *testing.T) {
	f := Feature{Name: "f", Since: version.V{Minor: 2}}
	off := []FeatureState{{Feature: f, Waiting: []string{"b (v1.32.4-shoal)"}}}
	on := []FeatureState{{Feature: f, Enabled: true}}
	tests := []struct {
		name      string
		prev, cur []FeatureState
		want      string // a substring of the log; "" for no log
	}{
		{"new leader, off", nil, off, "feature waiting for servers"},
		{"new leader, on", nil, on, "feature enabled"},
		{"turns on", off, on, "feature enabled"},
		{"turns off", on, off, "feature disabled"},
		{"unchanged off", off, off, ""},
		{"unchanged on", on, on, ""},
		{"other servers now", off, []FeatureState{{Feature: f, Waiting: []string{"c (v0.1.0)"}}}, "c (v0.1.0)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logFeatureChanges(slog.New(slog.NewTextHandler(&buf, nil)), tc.prev, tc.cur)
			if got := buf.String(); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("log = %q, want %q", got, tc.want)
			}
		})
	}
}

// bigCmd is a create whose entry is well over compressMin.
func bigCmd(name string) *Command {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"data": map[string]string{"k": strings.Repeat("compressible ", 400)},
	})
	return &Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: name, Object: b, UID: "uid-" + name, Time: testTime}
}

// The gate on a real raft: off while a server runs an older version
// (large entries go to the log as they are), on once every server runs
// this one (they go compressed, and every replica applies them), and off
// again when the node stops leading.
func TestRaftFeatureGate(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	leader := waitLeader(t, nodes)
	g := &fakeGossip{}
	for _, n := range nodes {
		g.setVersion(n.id, n.addr, "v0.2.0")
	}
	g.setVersion(nodes[2].id, nodes[2].addr, "v1.32.4-shoal") // not upgraded yet
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = leader.raft.RunFeatureGate(ctx, g, testLogger(t)) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	entryType := func(idx uint64) msgType {
		var l raft.Log
		if err := leader.raft.logs.GetLog(idx, &l); err != nil {
			t.Fatalf("log %d: %v", idx, err)
		}
		return msgType(l.Data[0])
	}
	propose := func(name string) uint64 {
		obj, err := leader.raft.Propose(ctx, bigCmd(name))
		if err != nil {
			t.Fatalf("propose %s: %v", name, err)
		}
		return obj.ResourceVersion
	}

	// The loop has decided once the status lists the feature, off.
	eventually(t, "the gate's first verdict", func() bool { return leader.raft.gate.on.Load() != nil })
	if leader.raft.FeatureEnabled(FeatureCompressedEntries) {
		t.Fatal("feature on while n3 runs v1.32.4-shoal")
	}
	if idx := propose("before"); entryType(idx) != msgCommand {
		t.Fatalf("entry %d has type %d before the upgrade, want a plain command", idx, entryType(idx))
	}

	g.setVersion(nodes[2].id, nodes[2].addr, "v0.2.0")
	eventually(t, "the feature on", func() bool { return leader.raft.FeatureEnabled(FeatureCompressedEntries) })
	if got := leader.raft.EnabledFeatures(); !slices.Equal(got, []string{FeatureCompressedEntries.Name}) {
		t.Fatalf("EnabledFeatures = %q", got)
	}
	idx := propose("after")
	if entryType(idx) != msgCompressed {
		t.Fatalf("entry %d has type %d after the upgrade, want msgCompressed", idx, entryType(idx))
	}
	for _, n := range nodes {
		eventually(t, n.id+" applies the compressed entry", func() bool {
			o, err := n.store.Get("configmaps", "ns", "after")
			return err == nil && o.ResourceVersion == idx && n.raft.Status().CompressedApplied > 0
		})
	}
	for _, n := range followers(nodes) {
		if n.raft.FeatureEnabled(FeatureCompressedEntries) || n.raft.Status().Features[FeatureCompressedEntries.Name] {
			t.Fatalf("follower %s reports the feature on; only the leader decides", n.id)
		}
	}

	cancel()
	wg.Wait()
	if leader.raft.FeatureEnabled(FeatureCompressedEntries) {
		t.Fatal("feature still on after the gate stopped")
	}
}

func (g *fakeGossip) setVersion(id, addr, v string) {
	g.set(id, addr, ServerAlive)
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.servers[id]
	s.Version = v
	g.servers[id] = s
}
