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
	roundsEnv := os.Getenv("SHOAL_CHAOS_ROUNDS")
	if roundsEnv == "" {
		t.Skip("the chaos suite runs only with SHOAL_CHAOS_ROUNDS=N set: make chaos ROUNDS=N [SEED=S]")
	}
	nRounds, err := strconv.Atoi(roundsEnv)
	if err != nil || nRounds < 1 {
		t.Fatalf("SHOAL_CHAOS_ROUNDS=%q: expected a positive number of rounds", roundsEnv)
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("SHOAL_CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SHOAL_CHAOS_SEED=%q: expected an integer", s)
		}
	}
	t.Logf("chaos: %d rounds, seed %d (replay: make chaos ROUNDS=%d SEED=%d)", nRounds, seed, nRounds, seed)

	pc := startPodCluster(t, chaosNodes)
	artifacts := filepath.Join(os.TempDir(), fmt.Sprintf("shoal-chaos-seed%d-%s", seed, time.Now().Format("20060102-150405")))
	// Registered after the cluster's clean-up, so it runs before the agents
	// are stopped: on failure the full logs go to files, their tails here.
	keep := false // set when a passing run has evidence worth keeping
	t.Cleanup(func() {
		if t.Failed() || keep {
			saveAgentLogs(t, pc, artifacts, t.Failed())
		}
	})

	h := &history{start: time.Now()}
	t.Logf("chaos: times below are seconds since %s (UTC, the agents' log clock)", h.start.UTC().Format("15:04:05.000"))
	var workers, probes []*peerClient
	for i := range pc.agents {
		w, err := newPeerClient(pc, i, chaosOpTimeout)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPeerClient(pc, i, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		workers, probes = append(workers, w), append(probes, p)
	}
	var clients []*regClient
	for i := 0; i < chaosClientsPerPeer*len(workers); i++ {
		clients = append(clients, newRegClient(i, workers[i%len(workers)], h, seed+int64(i)+1))
	}
	ctx := context.Background()
	for _, key := range append(chaosKeys, probeKey) {
		if out := clients[0].invoke(ctx, regInput{Kind: opCreate, Key: key, Value: "init"}); out.Result != resOK {
			t.Fatalf("create register %s: expected ok, seen %s (%s)", key, out.Result, h.all()[len(h.all())-1].Detail)
		}
	}
	cs, err := kubernetes.NewForConfig(probes[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(chaosNamespace).Create(ctx, chaosDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", chaosDeploymentName, err)
	}
	waitFor(t, 180*time.Second, fmt.Sprintf("deployment %s with %d ready replicas before the chaos", chaosDeploymentName, chaosReplicas), func() error {
		return deploymentBack(ctx, probes[0])
	})

	// The workload, then the faults.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Whatever ends the test, the workload ends before the cluster goes.
	t.Cleanup(func() { stop(); wg.Wait() })
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(wctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); probe(wctx, workers, h, len(clients)) }()
	workStart := h.now()
	time.Sleep(chaosBaseline)
	nm := &nemesis{t: t, pc: pc, peers: probes, rng: rand.New(rand.NewSource(seed)), h: h}
	rounds := nm.run(ctx, nRounds)
	lastHeal := rounds[len(rounds)-1].Healed
	deadline := h.start.Add(lastHeal + convergeWithin)
	// The cluster heals under the workload; the clients go on for a while
	// after the last fault in any case, so its write gap ends where writes
	// resume. The registers are compared once they stop.
	healedAt := h.start.Add(lastHeal)
	convErr := converge(t, healedAt, deadline, func() error { return clusterHealed(ctx, pc, probes) })
	convergedIn := h.now() - lastHeal
	time.Sleep(time.Until(h.start.Add(lastHeal + chaosAfterLast)))
	stop()
	wg.Wait()
	end := h.now()
	rounds[len(rounds)-1].End = end
	if convErr == nil {
		convErr = converge(t, healedAt, deadline, func() error { return peersAgree(ctx, probes, registerKind) })
	}
	convergeText := fmt.Sprintf("%.1fs (nodes Ready, peers agree, Deployment back; registers equal on every peer after the workload stopped at %.1fs)",
		convergedIn.Seconds(), (end - lastHeal).Seconds())
	if convErr != nil {
		convergeText = fmt.Sprintf("NOT within %s: %v", convergeWithin, convErr)
	}

	ops := h.all()
	var unexpected []string
	for _, op := range ops {
		if op.Unexpected && len(unexpected) < 10 {
			unexpected = append(unexpected, fmt.Sprintf("%s %s through node-%d: %s", op.In.Key, op.In.Kind, op.Peer, op.Detail))
		}
	}
	checkStart := time.Now()
	htmlPath := filepath.Join(artifacts, "history.html")
	os.MkdirAll(artifacts, 0o755)
	verdict, vizErr := checkLinearizable(ops, rounds, htmlPath, chaosCheckLimit)
	verdictText := map[porcupine.CheckResult]string{porcupine.Ok: "yes", porcupine.Illegal: "NO", porcupine.Unknown: "UNDECIDED (checker time limit)"}[verdict]
	t.Logf("chaos: porcupine checked %d operations in %s", len(ops), time.Since(checkStart).Round(time.Millisecond))
	disorder := writeOrder(ops)
	if len(disorder) > 0 {
		verdictText = "NO (resourceVersions out of real-time order)"
	}
	gaps := writeGaps(ops, rounds, workStart, end)
	t.Logf("chaos: rounds (seed %d)\n%s", seed, roundLines(rounds, gaps))
	t.Logf("chaos: why operations did not succeed\n%s", reasons(ops))
	t.Logf("chaos: figures (seed %d)\n%s", seed, summary(rounds, countOps(ops), verdictText, gaps, convergeText))

	if verdict != porcupine.Ok {
		if vizErr != nil {
			t.Errorf("chaos: write the history's visualization: %v", vizErr)
		}
		t.Errorf("chaos: the history is not proven linearizable (%s); porcupine's visualization: %s", verdict, htmlPath)
	}
	if len(disorder) > 0 {
		t.Errorf("chaos: acknowledged writes whose resourceVersions contradict their real-time order:\n  %s", strings.Join(disorder, "\n  "))
	}
	if convErr != nil {
		t.Errorf("chaos: the cluster did not converge within %s of the last fault: %v", convergeWithin, convErr)
	}
	if len(unexpected) > 0 {
		t.Errorf("chaos: answers no correct server gives:\n  %s", strings.Join(unexpected, "\n  "))
	}
	keep = os.Getenv("SHOAL_CHAOS_KEEP") != ""
	for i, r := range rounds {
		g := gaps.perRound[i]
		switch {
		case singleNodeFault(r.Kind) && g.Len() > writeGapFail:
			t.Errorf("chaos: %s: no write succeeded for %.1fs, from %.1fs to %.1fs (goal %s; the suite fails above %s)",
				r, g.Len().Seconds(), g.From.Seconds(), g.To.Seconds(), writeGapGoal, writeGapFail)
		case singleNodeFault(r.Kind) && g.Len() > writeGapGoal:
			// A miss of the goal fails only grossly (see writeGapFail),
			// but its evidence is kept.
			t.Logf("chaos: WRITE-GAP GOAL MISSED: %s: no write succeeded for %.1fs, from %.1fs to %.1fs (goal %s)",
				r, g.Len().Seconds(), g.From.Seconds(), g.To.Seconds(), writeGapGoal)
			keep = true
		}
	}
	if t.Failed() || keep {
		saveHistory(t, ops, rounds, filepath.Join(artifacts, "history.jsonl"))
	} else {
		os.RemoveAll(artifacts)
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
	// chaosCheckLimit bounds porcupine's search.
	chaosCheckLimit = 2 * time.Minute
	convergeWithin  = 30 * time.Second
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
