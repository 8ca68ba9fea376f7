package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestRecoverFromOneSurvivor loses two of three voters for good: writes
// fail for want of a quorum, `shoal recover` makes the survivor a
// one-voter cluster with every acknowledged object, it takes writes again
// and new machines join it; a lost machine that comes back after all is
// reset and rejoins.
func TestRecoverFromOneSurvivor(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	l := newCPLab(t, 4)
	as := l.startCluster(3)
	nodes, err := l.nodes(as[0])
	if err != nil {
		t.Fatal(err)
	}
	// Lose the leader and one follower; the other follower survives.
	var s *agent
	var lost []*agent
	for _, a := range as {
		role := ""
		for _, n := range nodes {
			if n.Name == a.name {
				role = roleOf(n)
			}
		}
		if s == nil && role != "leader" {
			s = a
		} else {
			lost = append(lost, a)
		}
	}
	t.Logf("nodes: %s; the survivor will be %s", describeNodes(nodes), s.name)

	out, err := l.applyYAML(s, "before", configMaps("recover", "acked", 20))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "created"); n != 20 {
		t.Fatalf("apply: %d created, want 20:\n%s", n, out)
	}

	for _, a := range lost {
		l.kill(a)
	}
	out, err = l.applyYAML(s, "no-quorum", configMaps("recover", "unacked", 1))
	if err == nil || !strings.Contains(out, "no raft leader") {
		t.Fatalf("a write with two of three voters gone: %v, want it refused for want of a raft leader:\n%s", err, out)
	}

	// Step 1: inspect every survivor (one here) - and refuse while it runs.
	if out, err := l.shoal("recover", "--inspect", "--data-dir", s.dataDir); err == nil || !strings.Contains(out, "stop the agent first") {
		t.Fatalf("recover --inspect on a running agent: %v, want a refusal saying to stop it:\n%s", err, out)
	}
	l.stopAgent(s)
	out = l.mustShoal("recover", "--inspect", "--data-dir", s.dataDir)
	contains(t, "recover --inspect", out, "node:           "+s.name, "last log index: ", "last log term:  ", as[0].name, as[1].name, as[2].name)
	lastIndex := intAfter(t, out, "last log index: ")
	for _, a := range lost { // their data is all there is of them; the survivor is as far
		o := l.mustShoal("recover", "--inspect", "--data-dir", a.dataDir)
		t.Logf("inspect %s:\n%s", a.name, o)
	}

	// Step 3: recover the survivor, start it.
	out = l.mustShoal("recover", "--data-dir", s.dataDir)
	contains(t, "recover", out, "Recovered "+s.name+" as the only voter", fmt.Sprintf("every log entry up to index %d", lastIndex),
		"dropped from the configuration: "+lost[0].name+", "+lost[1].name, "forgotten gossip peers: ")
	t.Logf("recover:\n%s", out)
	since := len(s.log.String())
	l.start(s, "agent")
	waitFor(t, 30*time.Second, "a write on the recovered node", func() error {
		_, err := l.applyYAML(s, "after", configMaps("recover", "after", 1))
		return err
	})
	out = l.mustKC(s, "get", "configmaps", "-l", "test=recover", "-o", "name")
	for i := range 20 {
		contains(t, "acknowledged objects after the recovery", out, fmt.Sprintf("configmap/acked-%02d", i))
	}
	if strings.Contains(out, "unacked") {
		t.Fatalf("the refused write is there after the recovery:\n%s", out)
	}
	out = l.mustKC(s, "get", "configmap", "acked-07", "-o", "jsonpath={.data.value}")
	if out != "acked-7" {
		t.Fatalf("acked-07 holds %q, want acked-7", out)
	}

	// A new machine joins the recovered node and sees everything.
	fresh := l.agentAt(3, "node-new")
	join := strings.Fields(l.mustShoal("token", "--data-dir", s.dataDir))
	l.start(fresh, "join", join[2], "--token", join[4])
	// It stays a non-voter: two voters would tolerate no more failures
	// than one (docs/operations.md, Voters).
	waitFor(t, 60*time.Second, "the new node Ready and a raft non-voter", func() error {
		nodes, err := l.nodes(s)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == fresh.name && ready(n) == corev1.ConditionTrue && roleOf(n) == "non-voter" {
				return nil
			}
		}
		return fmt.Errorf("nodes: %s", describeNodes(nodes))
	})
	out = l.mustKC(fresh, "get", "configmaps", "-l", "test=recover", "-o", "name")
	if n := strings.Count(out, "configmap/"); n != 21 {
		t.Fatalf("through the new node: %d ConfigMaps, want 21:\n%s", n, out)
	}

	// A lost machine comes back after all: reset first, it rejoins.
	back := lost[1]
	out = l.mustShoal("recover", "--reset", "--data-dir", back.dataDir, "--join", join[2])
	contains(t, "recover --reset", out, "Reset the raft state of "+back.dataDir, "rejoins through "+join[2])
	l.start(back, "agent")
	// With three live members the cluster is back at three voters.
	waitFor(t, 60*time.Second, back.name+" back, Ready, and three voters", func() error {
		nodes, err := l.nodes(s)
		if err != nil {
			return err
		}
		voters, backReady := 0, false
		for _, n := range nodes {
			if r := roleOf(n); (r == "voter" || r == "leader") && ready(n) == corev1.ConditionTrue {
				voters++
			}
			backReady = backReady || (n.Name == back.name && ready(n) == corev1.ConditionTrue)
		}
		if !backReady || voters != 3 {
			return fmt.Errorf("nodes: %s", describeNodes(nodes))
		}
		return nil
	})
	// Ready comes from gossip and the lease; the node's own API may open a
	// moment later.
	waitFor(t, 30*time.Second, "21 ConfigMaps through the reset node", func() error {
		out, err := l.kc(back, "get", "configmaps", "-l", "test=recover", "-o", "name")
		if err != nil {
			return err
		}
		if n := strings.Count(out, "configmap/"); n != 21 {
			return fmt.Errorf("%d ConfigMaps, want 21:\n%s", n, out)
		}
		return nil
	})

	// The machine that stays lost: its Node turns NotReady, and the
	// recovered node never calls its old address again.
	gone := lost[0]
	waitFor(t, 90*time.Second, gone.name+" NotReady", func() error {
		nodes, err := l.nodes(s)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == gone.name && ready(n) == corev1.ConditionUnknown {
				return nil
			}
		}
		return fmt.Errorf("nodes: %s", describeNodes(nodes))
	})
	if log := s.log.String()[since:]; strings.Contains(log, gone.ip+":") {
		i := strings.Index(log, gone.ip+":")
		t.Fatalf("the recovered node still calls the lost %s at %s:\n%s", gone.name, gone.ip, log[max(0, i-300):min(len(log), i+300)])
	}
}

// intAfter reads the integer that follows prefix in out.
func intAfter(t *testing.T, out, prefix string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(prefix) + `(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q followed by a number in:\n%s", prefix, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
