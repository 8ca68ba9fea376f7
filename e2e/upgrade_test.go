package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-project/shoal/internal/version"
)

const (
	// legacyVersion is what upgradeFrom's nodes publish.
	legacyVersion = "v0.2.0"
	// gatedFeature is the feature the upgrade must turn on, and only at
	// the end (consensus.FeatureFramedCommands).
	gatedFeature = "framed-commands"
	// upgradeHold is how long the test runs the workload in each mixed
	// state before the next step.
	upgradeHold = 4 * time.Second
	// bigKey is a ConfigMap of several compressible KiB that a writer
	// rewrites all along: its entries are compressed (a v0.2 feature), and
	// were framed commands on too early they would hold framed entries,
	// on which an old node would stop.
	bigKey = "upgrade-big"
)

// TestRollingUpgrade: a 3-node cluster of the binary built from
// upgradeFrom, under the chaos suite's register workload, is upgraded to
// this tree's binary one node at a time, as docs/upgrades.md tells users:
//
//  1. a follower is replaced (old leader, one new follower);
//  2. the other follower is replaced (old leader, two new followers);
//  3. the old leader is restarted, still old: a new node leads while an
//     old one follows, the mixed state that matters most (a new leader's
//     entries reach an old replica);
//  4. the last old node is replaced.
//
// No node may stop (an entry it cannot apply panics), the history must be
// linearizable, the framed-commands feature must stay off until step 4
// and turn on after it, and `shoal get nodes -o wide` must show each
// node's version.
func TestRollingUpgrade(t *testing.T) {
	requireNetns(t)
	oldBin := buildShoalAt(t, upgradeFrom)
	l := newCPLab(t, 3)
	l.agentBin = oldBin
	as := l.startCluster(3)
	u := &upgradeRun{t: t, l: l, as: as, h: &history{start: time.Now()}}
	u.expectVersions(legacyVersion, legacyVersion, legacyVersion)

	// The workload: two register clients per peer, and the big writer.
	for i, a := range as {
		pc, err := peerClientIn(l.kubeconfig, a, l.lab.nodes[i], i, chaosOpTimeout)
		if err != nil {
			t.Fatal(err)
		}
		u.peers = append(u.peers, pc)
	}
	for i := range 2 * len(u.peers) {
		u.clients = append(u.clients, newRegClient(i, u.peers[i%len(u.peers)], u.h, int64(i)+1))
	}
	for _, key := range chaosKeys {
		if out := u.clients[0].invoke(context.Background(), regInput{Kind: opCreate, Key: key, Value: "init"}); out.Result != resOK {
			t.Fatalf("create register %s: %s", key, out.Result)
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() }) // the workload ends before the cluster
	for _, c := range u.clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(wctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); u.bigWriter(wctx) }()
	time.Sleep(upgradeHold)

	leader := u.leader()
	var followers []int
	for i := range as {
		if i != leader {
			followers = append(followers, i)
		}
	}
	t.Logf("upgrade: %s leads; replacing %s, then %s, then %s", as[leader].name, as[followers[0]].name, as[followers[1]].name, as[leader].name)

	// Steps 1 and 2: the followers, the old leader staying.
	for _, i := range followers {
		u.replace(i, "")
		u.expectFeatureOff()
	}
	// Step 3: the old leader stops, and comes back as it was once a new
	// node leads (restarted at once it could win the election again: the
	// others grant their vote to the leader they last heard from).
	u.restart(leader, oldBin, func() {
		waitFor(t, 30*time.Second, "a new node leading", func() error {
			if i := u.leader(); i == leader {
				return fmt.Errorf("%s (old, stopped) still labelled leader", as[i].name)
			}
			return nil
		})
	})
	newLeader := u.leader()
	if newLeader == leader {
		t.Fatalf("%s (old) leads again after its restart", as[leader].name)
	}
	u.expectFeatureOff()
	contains(t, "the new leader's log", as[newLeader].log.String(),
		"feature waiting for servers to be upgraded", "feature="+gatedFeature, as[leader].name+" ("+legacyVersion+")")
	want := map[string]string{}
	for i, a := range as {
		want[a.name] = version.Version
		if i == leader {
			want[a.name] = legacyVersion
		}
	}
	u.expectVersionsByName(want)

	// Step 4: the last old node.
	u.replace(leader, "")
	waitFor(t, 30*time.Second, "the gated feature on and used on every node", func() error {
		ld := u.leader()
		m, err := u.metrics(ld)
		if err != nil {
			return err
		}
		if on := m[`shoal_raft_feature_enabled{feature="`+gatedFeature+`"}`]; on != 1 {
			return fmt.Errorf("%s: feature %s = %v", as[ld].name, gatedFeature, on)
		}
		for i := range as {
			m, err := u.metrics(i)
			if err != nil {
				return err
			}
			if n := m["shoal_raft_framed_entries_applied_total"]; n < 1 {
				return fmt.Errorf("%s applied %v framed entries", as[i].name, n)
			}
		}
		return nil
	})
	contains(t, "the leader's log", as[u.leader()].log.String(), "feature enabled", "feature="+gatedFeature)
	u.expectVersions(version.Version, version.Version, version.Version)
	time.Sleep(upgradeHold)
	stop()
	wg.Wait()
	u.alive()
	u.judge()
}

// upgradeRun is the state of TestRollingUpgrade.
type upgradeRun struct {
	t       *testing.T
	l       *cpLab
	as      []*agent
	h       *history
	peers   []*peerClient
	clients []*regClient
}

// replace stops agent i (SIGTERM, as an operator would) and starts it
// again with bin ("" = this tree's binary) on the same data dir, then
// waits until it is a Ready voter and answers a write.
func (u *upgradeRun) replace(i int, bin string) {
	u.t.Helper()
	u.restart(i, bin, func() {})
}

// restart is replace with a step (stopped) run between the stop and the
// start.
func (u *upgradeRun) restart(i int, bin string, stopped func()) {
	u.t.Helper()
	a := u.as[i]
	u.alive()
	u.l.stopAgent(a)
	stopped()
	a.bin = bin
	label := "this tree's binary"
	if bin != "" {
		label = "the old binary again"
	}
	u.t.Logf("upgrade: %.1fs: %s restarts with %s", u.h.now().Seconds(), a.name, label)
	u.l.start(a, "agent")
	waitFor(u.t, 60*time.Second, a.name+" back as a Ready voter, writable", func() error {
		u.alive() // a node that stopped on an entry fails the test at once
		nodes, err := u.l.nodes(a)
		if err != nil {
			return err
		}
		for _, nd := range nodes {
			if ready(nd) != "True" || (roleOf(nd) != "leader" && roleOf(nd) != "voter") {
				return fmt.Errorf("not every node a Ready voter: %s", describeNodes(nodes))
			}
		}
		_, err = u.l.applyYAML(a, "after-"+a.name, configMaps("upgrade", "after-"+a.name, 1))
		return err
	})
	time.Sleep(upgradeHold)
	u.alive()
}

// alive fails the test when an agent exited: every stop is the test's.
func (u *upgradeRun) alive() {
	u.t.Helper()
	for _, a := range u.as {
		select {
		case <-a.done:
			u.t.Fatalf("%s exited; its log ends:\n%s", a.name, tail(a.log.String(), 4000))
		default:
		}
	}
}

// leader is the index of the agent the Nodes' raft-role labels name
// leader, read through any agent that answers.
func (u *upgradeRun) leader() int {
	u.t.Helper()
	found := -1
	waitFor(u.t, 30*time.Second, "a leader", func() error {
		for _, a := range u.as {
			nodes, err := u.l.nodes(a)
			if err != nil {
				continue
			}
			for _, nd := range nodes {
				if roleOf(nd) == "leader" {
					for i, b := range u.as {
						if b.name == nd.Name {
							found = i
							return nil
						}
					}
				}
			}
			return fmt.Errorf("no leader: %s", describeNodes(nodes))
		}
		return fmt.Errorf("no agent answers")
	})
	return found
}

// expectFeatureOff checks that no node has applied a framed entry and
// that no leader of this tree's binary writes them.
func (u *upgradeRun) expectFeatureOff() {
	u.t.Helper()
	for i, a := range u.as {
		if a.bin != "" {
			continue // the old binary has neither the metrics nor the feature
		}
		m, err := u.metrics(i)
		if err != nil {
			u.t.Fatal(err)
		}
		if on := m[`shoal_raft_feature_enabled{feature="`+gatedFeature+`"}`]; on != 0 {
			u.t.Fatalf("%s: feature %s on while a node runs %s", a.name, gatedFeature, legacyVersion)
		}
		if n, ok := m["shoal_raft_framed_entries_applied_total"]; !ok || n != 0 {
			u.t.Fatalf("%s: %v framed entries applied (reported: %v) while a node runs %s", a.name, n, ok, legacyVersion)
		}
	}
}

// metrics scrapes agent i's /metrics into "name{labels}" -> value.
func (u *upgradeRun) metrics(i int) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, body, err := u.peers[i].do(ctx, http.MethodGet, "/metrics", "", nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("metrics of %s: %d %v", u.as[i].name, status, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// expectVersions waits until `shoal get nodes -o wide` shows the agents'
// versions, in the order of u.as.
func (u *upgradeRun) expectVersions(vs ...string) {
	u.t.Helper()
	want := map[string]string{}
	for i, a := range u.as {
		want[a.name] = vs[i]
	}
	u.expectVersionsByName(want)
}

func (u *upgradeRun) expectVersionsByName(want map[string]string) {
	u.t.Helper()
	var out string
	waitFor(u.t, 30*time.Second, fmt.Sprintf("get nodes -o wide showing the versions %v", want), func() error {
		var err error
		if out, err = u.l.kc(u.as[0], "get", "nodes", "-o", "wide"); err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 0 || !strings.Contains(lines[0], "VERSION") {
			return fmt.Errorf("no VERSION column:\n%s", out)
		}
		header := strings.Fields(lines[0])
		vi := -1
		for i, h := range header {
			if h == "VERSION" {
				vi = i
			}
		}
		seen := 0
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) <= vi {
				continue
			}
			if v, ok := want[f[0]]; ok {
				if f[vi] != v {
					return fmt.Errorf("%s shows %s, want %s:\n%s", f[0], f[vi], v, out)
				}
				seen++
			}
		}
		if seen != len(want) {
			return fmt.Errorf("%d of %d nodes listed:\n%s", seen, len(want), out)
		}
		return nil
	})
	u.t.Logf("upgrade: get nodes -o wide:\n%s", out)
}

// bigWriter rewrites bigKey through the peers in turn until ctx ends; its
// outcome is not part of the history (it only makes large entries).
func (u *upgradeRun) bigWriter(ctx context.Context) {
	path := "/api/v1/namespaces/" + chaosNamespace + "/configmaps"
	filler := strings.Repeat("a compressible line of a large ConfigMap\n", 150)
	for n := 0; ctx.Err() == nil; n++ {
		pc := u.peers[n%len(u.peers)]
		cm := configMap(bigKey, fmt.Sprintf("%d\n%s", n, filler), 0)
		rctx, cancel := context.WithTimeout(ctx, chaosOpTimeout)
		status, _, err := pc.do(rctx, http.MethodPut, path+"/"+bigKey, "application/json", mustJSON(cm))
		if err == nil && status == http.StatusNotFound {
			_, _, _ = pc.do(rctx, http.MethodPost, path, "application/json", mustJSON(cm))
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// judge checks the history and that no agent logged a stop on an entry.
func (u *upgradeRun) judge() {
	t, ops := u.t, u.h.all()
	for _, a := range u.as {
		for _, bad := range []string{"panic:", "unknown raft command", "newer shoal wrote it", "does not decode as a command"} {
			if strings.Contains(a.log.String(), bad) {
				t.Errorf("%s logged %q:\n%s", a.name, bad, tail(a.log.String(), 4000))
			}
		}
	}
	counts := countOps(ops)
	t.Logf("upgrade: %d operations: %v", len(ops), counts)
	if c := counts[opWrite]; c == nil || c.ok < 50 {
		t.Errorf("too few acknowledged writes to judge: %v", c)
	}
	// The visualization of a history found illegal is kept for the reader.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("shoal-upgrade-%s", time.Now().Format("20060102-150405")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lin, vizErr := checkLinearizable(ops, nil, filepath.Join(dir, "history.html"), 2*time.Minute)
	t.Logf("upgrade: porcupine: %s", lin)
	if lin.Result == porcupine.Ok {
		os.RemoveAll(dir)
	} else {
		t.Errorf("the history is not proven linearizable (%v); visualization: %s (write error: %v)", lin.Result, dir, vizErr)
	}
	if disorder := writeOrder(ops); len(disorder) > 0 {
		t.Errorf("acknowledged writes whose resourceVersions contradict their real-time order:\n  %s", strings.Join(disorder, "\n  "))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
