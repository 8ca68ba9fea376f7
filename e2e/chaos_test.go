package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestChaos is the chaos suite: five agents in network namespaces, clients
// on every peer doing quorum reads, writes and compare-and-set on a few
// ConfigMaps while a nemesis kills, restarts and unplugs nodes. Afterwards
// the history must be linearizable and the cluster must heal within 30 s:
// every node Ready, every peer answering the same objects, the suite's
// Deployment back to its replicas. It runs only when SHOAL_CHAOS_ROUNDS is
// set (`make chaos ROUNDS=N SEED=S`). The history and the agents' logs of
// a run that failed or missed a goal are kept (SHOAL_CHAOS_KEEP=1: of
// every run) in a directory under $TMPDIR that the test names.
func TestChaos(t *testing.T) {
	nRounds, seed := chaosParams(t)
	t.Logf("chaos: %d rounds, seed %d (replay: make chaos ROUNDS=%d SEED=%d)", nRounds, seed, nRounds, seed)
	pc := startPodCluster(t, chaosNodes)
	run := &chaosRun{t: t, pc: pc, seed: seed, h: &history{start: time.Now()},
		artifacts: filepath.Join(os.TempDir(), fmt.Sprintf("shoal-chaos-seed%d-%s", seed, time.Now().Format("20060102-150405")))}
	// Registered after the cluster's clean-up, so it runs before the agents
	// are stopped: the full logs go to files, their tails here on failure.
	t.Cleanup(func() {
		if t.Failed() || run.keep {
			saveAgentLogs(t, pc, run.artifacts, t.Failed())
		}
	})
	t.Logf("chaos: times below are seconds since %s (UTC, the agents' log clock)", run.h.start.UTC().Format("15:04:05.000"))
	run.setup()

	// The workload, then the faults.
	ctx := context.Background()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Whatever ends the test, the workload ends before the cluster goes.
	t.Cleanup(func() { stop(); wg.Wait() })
	for _, c := range run.clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(wctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); probe(wctx, run.workers, run.h, len(run.clients)) }()
	run.workStart = run.h.now()
	time.Sleep(chaosBaseline)
	nm := &nemesis{t: t, pc: pc, peers: run.probes, rng: rand.New(rand.NewSource(seed)), h: run.h}
	run.rounds = nm.run(ctx, nRounds)

	// The cluster heals under the workload; the clients go on for a while
	// after the last fault in any case, so its write gap ends where writes
	// resume. The registers are compared once they stop.
	lastHeal := run.rounds[len(run.rounds)-1].Healed
	healedAt, deadline := run.h.start.Add(lastHeal), run.h.start.Add(lastHeal+convergeWithin)
	run.convErr = converge(t, healedAt, deadline, func() error { return clusterHealed(ctx, pc, run.probes) })
	run.convergedIn = run.h.now() - lastHeal
	time.Sleep(time.Until(healedAt.Add(chaosAfterLast)))
	stop()
	wg.Wait()
	run.end = run.h.now()
	run.rounds[len(run.rounds)-1].End = run.end
	if run.convErr == nil {
		run.convErr = converge(t, healedAt, deadline, func() error { return peersAgree(ctx, run.probes, registerKind) })
	}
	run.stoppedAfter = run.end - lastHeal
	run.judge()
}

// chaosParams reads the number of rounds and the seed from the
// environment; without SHOAL_CHAOS_ROUNDS the test is skipped.
func chaosParams(t *testing.T) (rounds int, seed int64) {
	env := os.Getenv("SHOAL_CHAOS_ROUNDS")
	if env == "" {
		t.Skip("the chaos suite runs only with SHOAL_CHAOS_ROUNDS=N set: make chaos ROUNDS=N [SEED=S]")
	}
	rounds, err := strconv.Atoi(env)
	if err != nil || rounds < 1 {
		t.Fatalf("SHOAL_CHAOS_ROUNDS=%q: expected a positive number of rounds", env)
	}
	seed = time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("SHOAL_CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SHOAL_CHAOS_SEED=%q: expected an integer", s)
		}
	}
	return rounds, seed
}

// chaosRun is one run of the suite: its clients, what happened, and
// where its evidence goes.
type chaosRun struct {
	t         *testing.T
	pc        *podCluster
	seed      int64
	h         *history
	artifacts string
	// keep is set when a passing run has evidence worth keeping.
	keep bool

	workers, probes []*peerClient // per peer: the workload's and the checks' clients
	clients         []*regClient

	rounds                    []round
	workStart, end            time.Duration
	convErr                   error
	convergedIn, stoppedAfter time.Duration
}

// setup makes the clients, the registers and the Deployment, and waits
// until the Deployment is ready.
func (r *chaosRun) setup() {
	t, ctx := r.t, context.Background()
	for i := range r.pc.agents {
		w, err := newPeerClient(r.pc, i, chaosOpTimeout)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPeerClient(r.pc, i, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r.workers, r.probes = append(r.workers, w), append(r.probes, p)
	}
	for i := 0; i < chaosClientsPerPeer*len(r.workers); i++ {
		r.clients = append(r.clients, newRegClient(i, r.workers[i%len(r.workers)], r.h, r.seed+int64(i)+1))
	}
	for _, key := range append(chaosKeys, probeKey) {
		if out := r.clients[0].invoke(ctx, regInput{Kind: opCreate, Key: key, Value: "init"}); out.Result != resOK {
			all := r.h.all()
			t.Fatalf("create register %s: expected ok, seen %s (%s)", key, out.Result, all[len(all)-1].Detail)
		}
	}
	cs, err := kubernetes.NewForConfig(r.probes[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(chaosNamespace).Create(ctx, chaosDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", chaosDeploymentName, err)
	}
	waitFor(t, 180*time.Second, fmt.Sprintf("deployment %s with %d ready replicas before the chaos", chaosDeploymentName, chaosReplicas), func() error {
		return deploymentBack(ctx, r.probes[0])
	})
}

// judge checks the history, prints the run's figures and fails the test
// for every goal missed.
func (r *chaosRun) judge() {
	t, ops := r.t, r.h.all()
	os.MkdirAll(r.artifacts, 0o755)
	htmlPath := filepath.Join(r.artifacts, "history.html")
	checkStart := time.Now()
	limit := max(chaosCheckLimit, time.Duration(len(r.rounds))*chaosCheckPerRound)
	lin, vizErr := checkLinearizable(ops, r.rounds, htmlPath, limit)
	verdict := lin.Result
	t.Logf("chaos: porcupine checked %d operations in %s (%s)", len(ops), time.Since(checkStart).Round(time.Millisecond), lin)
	verdictText := map[porcupine.CheckResult]string{porcupine.Ok: "yes", porcupine.Illegal: "NO", porcupine.Unknown: "UNDECIDED (checker time limit)"}[verdict]
	disorder := writeOrder(ops)
	if len(disorder) > 0 {
		verdictText = "NO (resourceVersions out of real-time order)"
	}
	convergeText := fmt.Sprintf("%.1fs (nodes Ready, peers agree, Deployment back; registers equal on every peer after the workload stopped at %.1fs)",
		r.convergedIn.Seconds(), r.stoppedAfter.Seconds())
	if r.convErr != nil {
		convergeText = fmt.Sprintf("NOT within %s: %v", convergeWithin, r.convErr)
	}
	gaps := writeGaps(ops, r.rounds, r.workStart, r.end)
	t.Logf("chaos: rounds (seed %d)\n%s", r.seed, roundLines(r.rounds, gaps))
	t.Logf("chaos: why operations did not succeed\n%s", reasons(ops))
	t.Logf("chaos: figures (seed %d)\n%s", r.seed, summary(r.rounds, countOps(ops), verdictText, gaps, convergeText))

	if verdict != porcupine.Ok {
		if vizErr != nil {
			t.Errorf("chaos: write the history's visualization: %v", vizErr)
		}
		where := fmt.Sprintf("register %s from %.3fs to %.3fs", lin.Bad.key, time.Duration(lin.Bad.from).Seconds(), time.Duration(lin.Bad.to).Seconds())
		if verdict == porcupine.Illegal {
			t.Errorf("chaos: the history is not linearizable (%s); porcupine's visualization: %s", where, htmlPath)
		} else {
			t.Errorf("chaos: the history is not proven linearizable within %s (%s undecided)", limit, where)
		}
	}
	if len(disorder) > 0 {
		t.Errorf("chaos: acknowledged writes whose resourceVersions contradict their real-time order:\n  %s", strings.Join(disorder, "\n  "))
	}
	if r.convErr != nil {
		t.Errorf("chaos: the cluster did not converge within %s of the last fault: %v", convergeWithin, r.convErr)
	}
	var unexpected []string
	for _, op := range ops {
		if op.Unexpected && len(unexpected) < 10 {
			unexpected = append(unexpected, fmt.Sprintf("%s %s through node-%d: %s", op.In.Key, op.In.Kind, op.Peer, op.Detail))
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("chaos: answers no correct server gives:\n  %s", strings.Join(unexpected, "\n  "))
	}
	r.keep = os.Getenv("SHOAL_CHAOS_KEEP") != ""
	for i, rd := range r.rounds {
		g := gaps.perRound[i]
		switch {
		case singleNodeFault(rd.Kind) && g.Len() > writeGapFail:
			t.Errorf("chaos: %s: no write succeeded for %.1fs, from %.1fs to %.1fs (goal %s; the suite fails above %s)",
				rd, g.Len().Seconds(), g.From.Seconds(), g.To.Seconds(), writeGapGoal, writeGapFail)
		case singleNodeFault(rd.Kind) && g.Len() > writeGapGoal:
			// A miss of the goal fails only grossly (see writeGapFail),
			// but its evidence is kept.
			t.Logf("chaos: WRITE-GAP GOAL MISSED: %s: no write succeeded for %.1fs, from %.1fs to %.1fs (goal %s)",
				rd, g.Len().Seconds(), g.From.Seconds(), g.To.Seconds(), writeGapGoal)
			r.keep = true
		}
	}
	if t.Failed() || r.keep {
		saveHistory(t, ops, r.rounds, filepath.Join(r.artifacts, "history.jsonl"))
	} else {
		os.RemoveAll(r.artifacts)
	}
}

const (
	chaosNodes          = 5
	chaosClientsPerPeer = 2
	chaosReplicas       = 3
	chaosDeploymentName = "chaos-bootcamp"
	// chaosBaseline is the quiet time before the first fault.
	chaosBaseline = 5 * time.Second
	// chaosAfterLast is how long the clients go on after the last fault.
	chaosAfterLast = 5 * time.Second
	// chaosCheckLimit and chaosCheckPerRound bound porcupine's search (it
	// took 4 s for the 129,000 operations of 40 rounds).
	chaosCheckLimit    = 2 * time.Minute
	chaosCheckPerRound = 6 * time.Second
	convergeWithin     = 30 * time.Second
	// writeGapGoal is the goal for a single kill or partition (issue 10);
	// on a loaded, shared 2-core test machine only a gross miss fails.
	writeGapGoal = 3 * time.Second
	writeGapFail = 10 * time.Second
)

func chaosDeployment() *appsv1.Deployment {
	replicas := int32(chaosReplicas)
	labels := map[string]string{"app": chaosDeploymentName}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: chaosDeploymentName, Namespace: chaosNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "bootcamp", Image: "gcr.io/google-samples/kubernetes-bootcamp:v1",
				}}},
			},
		},
	}
}

// saveHistory writes the operations and rounds as JSON lines.
func saveHistory(t testing.TB, ops []chaosOp, rounds []round, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Logf("save history: %v", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, r := range rounds {
		enc.Encode(map[string]any{"round": r})
	}
	for _, op := range ops {
		enc.Encode(op)
	}
	t.Logf("chaos: history saved to %s", path)
}

// saveAgentLogs writes each agent's whole log (every incarnation) to the
// artifacts dir and, when show is set, shows its tail; the buffers are
// emptied so the cluster's own clean-up prints only the shutdown.
func saveAgentLogs(t testing.TB, pc *podCluster, dir string, show bool) {
	os.MkdirAll(dir, 0o755)
	for _, a := range pc.agents {
		log := a.log.String()
		path := filepath.Join(dir, a.name+".log")
		if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
			t.Logf("save log of %s: %v", a.name, err)
		}
		lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
		if !show {
			t.Logf("chaos: log of %s saved to %s", a.name, path)
			a.log.Reset()
			continue
		}
		t.Logf("--- tail of %s's log (whole log: %s) ---\n%s", a.name, path, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		a.log.Reset()
	}
}
