package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The nemesis: rounds of one fault each, drawn from a seeded source, so a
// failing run can be replayed with its seed (the leader-directed faults hit
// whichever node leads at that moment). Faults touch only the test's own
// namespaces and processes.

type faultKind string

const (
	faultKillRandom     faultKind = "kill-random"     // kill -9 a random agent, restart it after 2-5 s
	faultKillLeader     faultKind = "kill-leader"     // the same for the raft leader's agent
	faultUnplugOne      faultKind = "unplug-one"      // a random node's link down for 3-8 s
	faultUnplugMinority faultKind = "unplug-minority" // two random nodes' links down for 3-8 s
	faultUnplugLeader   faultKind = "unplug-leader"   // the leader's link down for 3-8 s
	faultRestartAll     faultKind = "restart-all"     // kill -9 every agent, restart all after 2-5 s
)

var faultKinds = []faultKind{faultKillRandom, faultKillLeader, faultUnplugOne, faultUnplugMinority, faultUnplugLeader, faultRestartAll}

// singleNodeFault says whether the write-gap goal (one node lost, the
// cluster keeps its quorum) applies to a fault kind.
func singleNodeFault(k faultKind) bool {
	return k == faultKillRandom || k == faultKillLeader || k == faultUnplugOne || k == faultUnplugLeader
}

// round is one fault as it happened, timed from the run's start.
type round struct {
	N     int
	Kind  faultKind
	Nodes []int
	// Leader is the node that led when the fault began (-1: none found).
	Leader int
	Hold   time.Duration
	// Start is when the fault began, Healed when it was undone, End when
	// the next round began.
	Start, Healed, End time.Duration
}

func (r round) String() string {
	var names []string
	for _, n := range r.Nodes {
		names = append(names, "node-"+strconv.Itoa(n))
	}
	who := strings.Join(names, ",")
	if r.Kind == faultRestartAll {
		who = "all"
	}
	return fmt.Sprintf("round %d: %s %s for %.1fs (leader before: %s)", r.N, r.Kind, who, r.Hold.Seconds(), nodeName(r.Leader))
}

func nodeName(i int) string {
	if i < 0 {
		return "none"
	}
	return "node-" + strconv.Itoa(i)
}

// nemesis applies faults to a podCluster.
type nemesis struct {
	t     testing.TB
	pc    *podCluster
	peers []*peerClient // short-timeout clients for the leader lookup
	rng   *rand.Rand
	h     *history
}

// run plays n rounds and returns them; it stops early when ctx ends.
func (nm *nemesis) run(ctx context.Context, n int) []round {
	var rounds []round
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		// Every draw is made whatever the fault, so the sequence of kinds,
		// durations and random nodes depends on the seed alone.
		kind := faultKinds[nm.rng.Intn(len(faultKinds))]
		perm := nm.rng.Perm(len(nm.pc.agents))
		killHold := time.Duration(2000+nm.rng.Intn(3000)) * time.Millisecond
		unplugHold := time.Duration(3000+nm.rng.Intn(5000)) * time.Millisecond
		pause := time.Duration(3000+nm.rng.Intn(3000)) * time.Millisecond

		leader, _ := nm.leader()
		r := round{N: i, Kind: kind, Leader: leader}
		switch kind {
		case faultKillRandom, faultUnplugOne:
			r.Nodes = perm[:1]
		case faultUnplugMinority:
			r.Nodes = perm[:2]
		case faultKillLeader, faultUnplugLeader:
			r.Nodes = perm[:1]
			if r.Leader >= 0 {
				r.Nodes = []int{r.Leader}
			}
		case faultRestartAll:
			r.Nodes = perm
		}
		r.Hold = killHold
		if strings.HasPrefix(string(kind), "unplug") {
			r.Hold = unplugHold
		}
		r.Start = nm.h.now()
		nm.t.Logf("chaos %s", r)
		nm.apply(r)
		sleepCtx(ctx, r.Hold)
		nm.heal(r)
		r.Healed = nm.h.now()
		if i < n {
			sleepCtx(ctx, pause)
		}
		r.End = nm.h.now()
		rounds = append(rounds, r)
		nm.t.Logf("chaos round %d healed at %.1fs; %s", i, r.Healed.Seconds(), nm.raftView())
	}
	return rounds
}

func (nm *nemesis) apply(r round) {
	switch r.Kind {
	case faultKillRandom, faultKillLeader, faultRestartAll:
		for _, i := range r.Nodes {
			nm.kill(i)
		}
	default:
		for _, i := range r.Nodes {
			nm.link(i, "down")
		}
	}
}

func (nm *nemesis) heal(r round) {
	switch r.Kind {
	case faultKillRandom, faultKillLeader, faultRestartAll:
		for _, i := range r.Nodes {
			nm.restart(i)
		}
	default:
		for _, i := range r.Nodes {
			nm.link(i, "up")
		}
	}
}

// kill sends SIGKILL to agent i (its containerd follows through its
// parent-death signal; pods and shims live on) and waits until it is gone.
func (nm *nemesis) kill(i int) {
	a := nm.pc.agents[i]
	nm.mark(i, "chaos: kill -9")
	a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		nm.t.Errorf("chaos: %s did not exit within 10s of SIGKILL", a.name)
	}
}

// restart starts agent i again as the harness does: `shoal agent` with the
// same data dir and flags. A containerd its killed predecessor started must
// be gone first (it holds the state dir's lock).
func (nm *nemesis) restart(i int) {
	a := nm.pc.agents[i]
	if pid := nm.waitContainerdGone(i, 5*time.Second); pid != "" {
		nm.t.Logf("chaos: %s's containerd (pid %s) outlived its agent by 5s; killing it", a.name, pid)
		if p, err := os.FindProcess(atoiOr(pid, -1)); err == nil {
			p.Kill()
		}
		nm.waitContainerdGone(i, 5*time.Second)
	}
	nm.mark(i, "chaos: restart")
	a.done = make(chan struct{})
	nm.pc.run(a, "agent", nm.pc.mirrors...)
}

// waitContainerdGone waits until no containerd runs in node i's namespace
// and returns the pid of one still running at the timeout ("" when none).
func (nm *nemesis) waitContainerdGone(i int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		pid := containerdIn(nm.pc.lab.nodes[i])
		if pid == "" || time.Now().After(deadline) {
			return pid
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containerdIn returns the pid of a containerd daemon (not a shim) in
// network namespace ns, or "".
func containerdIn(ns string) string {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, pid := range strings.Fields(string(out)) {
		comm, err := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == "containerd" {
			return pid
		}
	}
	return ""
}

// link sets node i's cable (its veth's end on the hub bridge) up or down.
func (nm *nemesis) link(i int, state string) {
	veth := fmt.Sprintf("se%s%d", nm.pc.lab.id, i)
	nm.mark(i, "chaos: link "+state)
	if _, err := nm.pc.lab.run(nm.pc.lab.hub, "ip", "link", "set", veth, state); err != nil {
		nm.t.Errorf("chaos: link %s of node-%d: %v", state, i, err)
	}
}

// mark writes a line about a fault into agent i's log, in the agents' own
// format, so the fault sorts among the agents' lines by time; at is the
// time on the history's clock.
func (nm *nemesis) mark(i int, what string) {
	fmt.Fprintf(nm.pc.agents[i].log, "time=%s level=CHAOS msg=%q at=%.1fs\n",
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), what, nm.h.now().Seconds())
}

// leader asks every peer's /metrics who leads; among several claimants
// (a cut-off leader that has not noticed yet) the highest term wins. It
// returns the leader (-1: none) and its raft metrics.
func (nm *nemesis) leader() (int, map[string]float64) {
	best, bestTerm := -1, -1.0
	var metrics map[string]float64
	for i, p := range nm.peers {
		m, err := scrapeRaft(p)
		if err != nil {
			continue
		}
		if m[`shoal_raft_state{state="leader"}`] == 1 && m["shoal_raft_term"] > bestTerm {
			best, bestTerm, metrics = i, m["shoal_raft_term"], m
		}
	}
	return best, metrics
}

// raftView describes the leader and its configuration, for the round log.
func (nm *nemesis) raftView() string {
	i, m := nm.leader()
	if i < 0 {
		return "no leader"
	}
	return fmt.Sprintf("leader node-%d (term %.0f, %.0f voters, %.0f non-voters)", i, m["shoal_raft_term"], m["shoal_raft_voters"], m["shoal_raft_nonvoters"])
}

// scrapeRaft reads the shoal_raft_* samples of a peer's /metrics.
func scrapeRaft(p *peerClient) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	status, body, err := p.do(ctx, "GET", "/metrics", "", nil)
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, fmt.Errorf("GET /metrics: %d", status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "shoal_raft_") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				m[line[:i]] = v
			}
		}
	}
	return m, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
