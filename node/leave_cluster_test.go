package node_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/internal/testcluster"
	"github.com/shoal-project/shoal/node"
	"github.com/shoal-project/shoal/node/membership"
)

// leaveRequest sends method to member i's LeavePath as the admin and
// returns the status code and the body's lines.
func leaveRequest(t *testing.T, c *testcluster.Cluster, i int, method string) (int, []string) {
	t.Helper()
	hc, err := rest.HTTPClientFor(c.RESTConfig(i))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.Members[i].Node.APIURL()+node.LeavePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, node.LeavePath, err)
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, lines
}

// TestLeave: the leader of a 3-node cluster leaves through its API. It
// hands leadership over, leaves gossip and raft, and its agent stops; the
// others no longer count it in raft and see it Left in gossip, and an
// agent refuses to start on its data dir. The only voter of a one-node
// cluster is refused, before and during a leave.
func TestLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster: ~10s")
	}
	c := testcluster.New(t, 3)
	c.Eventually(20*time.Second, "3 voters", func() error {
		v, err := c.Voters()
		if err != nil || len(v) != 3 {
			return fmt.Errorf("voters %v, %v", v, err)
		}
		return nil
	})
	leader := c.LeaderIndex()
	name := c.Members[leader].Name

	code, lines := leaveRequest(t, c, leader, http.MethodGet)
	if code != http.StatusOK || !strings.Contains(strings.Join(lines, "\n"), `"raftRole":"leader"`) {
		t.Fatalf("GET leave: %d %q", code, lines)
	}
	code, lines = leaveRequest(t, c, leader, http.MethodPost)
	out := strings.Join(lines, "\n")
	if code != http.StatusOK || len(lines) == 0 || lines[len(lines)-1] != "left" {
		t.Fatalf("POST leave: %d\n%s", code, out)
	}
	for _, want := range []string{"raft leadership handed to ", "left gossip", "node/" + name + " deleted", "removed from raft by the leader "} {
		if !strings.Contains(out, want) {
			t.Errorf("leave said:\n%s\nwant %q", out, want)
		}
	}
	if err := c.WaitStopped(leader, 30*time.Second); err != nil {
		t.Fatalf("after leaving: %v", err)
	}
	other := (leader + 1) % 3
	c.Eventually(20*time.Second, name+" out of raft and Left in gossip", func() error {
		v, err := c.Voters()
		if err != nil {
			return err
		}
		servers, err := c.Members[other].Node.Raft().Servers()
		if err != nil {
			return err
		}
		if slices.ContainsFunc(servers, func(s consensus.Server) bool { return s.ID == name }) || slices.Contains(v, name) {
			return fmt.Errorf("raft still lists %s: %+v", name, servers)
		}
		if st := gossipState(c, other, name); st != membership.Left {
			return fmt.Errorf("gossip says %s is %v", name, st)
		}
		if _, err := c.Client(other).CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("node/%s: %v, want NotFound", name, err)
		}
		return nil
	})
	if _, ok := node.HasLeft(c.Members[leader].Config.DataDir); !ok {
		t.Error("the data dir is not marked as left")
	}
	n, err := node.New(c.Members[leader].Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Run(ctx); err == nil || !strings.Contains(err.Error(), "left its cluster") {
		t.Fatalf("an agent on the left node's data dir: %v, want a refusal", err)
	}
	mustWrite(t, c, other, "after-leave")

	one := testcluster.New(t, 1)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		code, lines := leaveRequest(t, one, 0, m)
		if code != http.StatusConflict || !strings.Contains(strings.Join(lines, "\n"), "only raft voter") {
			t.Errorf("%s leave of the only voter: %d %q, want 409", m, code, lines)
		}
	}
	if _, ok := node.HasLeft(one.Members[0].Config.DataDir); ok {
		t.Error("a refused leave marked the data dir")
	}
}
