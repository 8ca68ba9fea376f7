package consensus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// testNode is one in-process raft node.
type testNode struct {
	id, dir, addr string
	store         *Store
	raft          *Raft
	tls           *testTLS
	tuning        *RaftTuning // nil: testTuning
}

type testTLS struct{ server, client *tls.Config }

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SHOAL_TEST_DEBUG") != "" {
		level = slog.LevelDebug - 4
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

var testTuning = RaftTuning{
	HeartbeatTimeout:   150 * time.Millisecond,
	ElectionTimeout:    150 * time.Millisecond,
	LeaderLeaseTimeout: 75 * time.Millisecond,
	CommitTimeout:      5 * time.Millisecond,
}

// start (re)starts n's raft on n.addr (or a fresh port) with a new store.
func (n *testNode) start(t testing.TB, bootstrap bool) {
	t.Helper()
	if err := n.tryStart(t, bootstrap); err != nil {
		t.Fatal(err)
	}
}

// tryStart is start that returns NewRaft's error.
func (n *testNode) tryStart(t testing.TB, bootstrap bool) error {
	t.Helper()
	bind := n.addr
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	tuning := testTuning
	if n.tuning != nil {
		tuning = *n.tuning
	}
	cfg := RaftConfig{
		NodeID: n.id, DataDir: n.dir, BindAddr: bind, Bootstrap: bootstrap,
		Logger: testLogger(t), Tuning: tuning,
	}
	if n.tls != nil {
		cfg.ServerTLS, cfg.ClientTLS = n.tls.server, n.tls.client
	}
	n.store = NewStore()
	var err error
	for range 50 { // the port of a restarted node may linger briefly
		n.raft, err = NewRaft(cfg, n.store)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	n.addr = n.raft.Addr()
	return nil
}

func (n *testNode) stop(t testing.TB) {
	t.Helper()
	if err := n.raft.Shutdown(); err != nil {
		t.Errorf("shutdown %s: %v", n.id, err)
	}
}

// newTestCluster starts n nodes: the first bootstraps, the others join as
// voters.
func newTestCluster(t *testing.T, n int, tlsConf *testTLS) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = &testNode{id: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), tls: tlsConf}
		nodes[i].start(t, i == 0)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			_ = nd.raft.Shutdown()
		}
	})
	leader := waitLeader(t, nodes)
	for _, nd := range nodes[1:] {
		if err := leader.raft.AddVoter(nd.id, nd.addr); err != nil {
			t.Fatalf("add voter %s: %v", nd.id, err)
		}
	}
	// Every node must hold the whole configuration before a test kills
	// the leader: a follower that lags behind the last AddVoter refuses
	// the votes of voters it does not know, and the survivors could not
	// elect anyone (seen on a loaded machine).
	last := leader.raft.raft.LastIndex()
	eventually(t, "all nodes know the leader and hold the configuration", func() bool {
		for _, nd := range nodes {
			if id, _ := nd.raft.Leader(); id != leader.id || nd.raft.raft.AppliedIndex() < last {
				return false
			}
		}
		return true
	})
	return nodes
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeader returns the leader among nodes once there is exactly one.
func waitLeader(t testing.TB, nodes []*testNode) *testNode {
	t.Helper()
	var leader *testNode
	eventually(t, "a leader", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.raft.IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		return leader != nil
	})
	return leader
}

func followers(nodes []*testNode) []*testNode {
	var out []*testNode
	for _, n := range nodes {
		if !n.raft.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

func createCmd(ns, name string, labels map[string]string) *Command {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"labels": labels},
		"data":     map[string]string{"k": name},
	})
	return &Command{Op: OpCreate, Resource: "configmaps", Namespace: ns, Name: name, Object: b, UID: "uid-" + name, Time: testTime}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRaftFollowerWriteReadableEverywhere(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	f := followers(nodes)[0]

	obj, err := f.raft.Propose(ctx, createCmd("default", "a", map[string]string{"x": "y"}))
	if err != nil {
		t.Fatal(err)
	}
	// Propose answers once the leader committed; the follower's own
	// replica may apply it a moment later. Read-your-writes on the
	// follower: after ReadYourWrites (which every API read calls), its
	// store holds the write, with no quorum round trip.
	if err := f.raft.ReadYourWrites(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.Get("configmaps", "default", "a")
	if err != nil || got.ResourceVersion != obj.ResourceVersion || got.Labels["x"] != "y" {
		t.Fatalf("follower Get = %+v, %v (proposed %+v)", got, err, obj)
	}
	for _, n := range nodes {
		if err := n.raft.ConsistentRead(ctx); err != nil {
			t.Fatalf("%s ConsistentRead: %v", n.id, err)
		}
		got, err := n.store.Get("configmaps", "default", "a")
		if err != nil || string(got.Raw) != string(obj.Raw) {
			t.Fatalf("%s Get = %v, %v", n.id, got, err)
		}
	}

	// Errors keep their identity across forwarding.
	cases := []struct {
		name string
		cmd  *Command
		want error
	}{
		{"duplicate", createCmd("default", "a", nil), ErrAlreadyExists},
		{"missing", &Command{Op: OpDelete, Resource: "configmaps", Namespace: "default", Name: "zz"}, ErrNotFound},
		{"conflict", &Command{Op: OpUpdate, Resource: "configmaps", Namespace: "default", Name: "a", Object: obj.Raw, ResourceVersion: 1}, ErrConflict},
		{"invalid", &Command{Op: OpCreate, Resource: "configmaps", Name: "bad", Object: json.RawMessage(`"str"`)}, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.raft.Propose(ctx, tc.cmd)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// Update and delete through the follower.
	upd, err := f.raft.Propose(ctx, &Command{Op: OpUpdate, Resource: "configmaps", Namespace: "default", Name: "a", Object: obj.Raw, ResourceVersion: obj.ResourceVersion})
	if err != nil || upd.ResourceVersion <= obj.ResourceVersion {
		t.Fatalf("update = %+v, %v", upd, err)
	}
	del, err := f.raft.Propose(ctx, &Command{Op: OpDelete, Resource: "configmaps", Namespace: "default", Name: "a"})
	if err != nil || del.ResourceVersion <= upd.ResourceVersion {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if err := f.raft.ReadYourWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get("configmaps", "default", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}

	servers, err := nodes[0].raft.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("Servers = %+v, %v", servers, err)
	}
	for _, s := range servers {
		if !s.Voter {
			t.Fatalf("%s is not a voter", s.ID)
		}
	}
}

func TestRaftWatchOnFollower(t *testing.T) {
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	f := followers(nodes)[0]
	w, err := f.store.Watch("configmaps", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const n = 30
	var want []uint64
	for i := range n {
		o, err := nodes[i%3].raft.Propose(ctx, createCmd("ns", fmt.Sprint(i), nil))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, o.ResourceVersion)
	}
	for i := range n {
		ev := recv(t, w)
		if ev.Type != Added || ev.Object.ResourceVersion != want[i] || ev.Object.Name != fmt.Sprint(i) {
			t.Fatalf("event %d = %s %s@%d, want %d", i, ev.Type, ev.Object.Name, ev.Object.ResourceVersion, want[i])
		}
	}
}

func TestRaftLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: leader election")
	}
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	leader := waitLeader(t, nodes)
	if _, err := leader.raft.Propose(ctx, createCmd("ns", "before", nil)); err != nil {
		t.Fatal(err)
	}
	leader.stop(t)
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	// Writes resume through either survivor, including while the election runs.
	for i, n := range rest {
		if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprint("after", i), nil)); err != nil {
			t.Fatalf("propose on %s after failover: %v", n.id, err)
		}
	}
	newLeader := waitLeader(t, rest)
	if newLeader == leader {
		t.Fatal("dead leader still leads")
	}
	for _, n := range rest {
		if err := n.raft.ConsistentRead(ctx); err != nil {
			t.Fatal(err)
		}
		items, _, _ := n.store.List("configmaps", "", "", 0)
		if len(items) != 3 {
			t.Fatalf("%s has %d objects", n.id, len(items))
		}
	}
}

func TestRaftRestartKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts nodes")
	}
	nodes := newTestCluster(t, 3, nil)
	ctx := testCtx(t)
	f := followers(nodes)[0]
	for i := range 5 {
		if _, err := f.raft.Propose(ctx, createCmd("ns", fmt.Sprint("a", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Part of the state comes from a snapshot, the rest from the log.
	if err := f.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := f.raft.Propose(ctx, createCmd("ns", fmt.Sprint("b", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	idx := f.store.Index()
	f.stop(t)
	// Writes while it is down arrive on restart.
	leader := waitLeader(t, nodes)
	if _, err := leader.raft.Propose(ctx, createCmd("ns", "c", nil)); err != nil {
		t.Fatal(err)
	}
	f.start(t, false)
	if err := f.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	items, _, _ := f.store.List("configmaps", "", "", 0)
	if len(items) != 11 || f.store.Index() <= idx {
		t.Fatalf("after restart: %d objects at index %d (was %d)", len(items), f.store.Index(), idx)
	}
	// The restarted node serves writes again.
	if _, err := f.raft.Propose(ctx, createCmd("ns", "d", nil)); err != nil {
		t.Fatal(err)
	}
	// A single-node restart of the whole cluster's leader data dir works too.
	leader.stop(t)
	leader.start(t, true) // Bootstrap is ignored: state exists
	waitLeader(t, nodes)
	if err := leader.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := leader.store.List("configmaps", "", "", 0); len(items) != 12 {
		t.Fatalf("restarted leader has %d objects", len(items))
	}
}

func TestRaftSingleNodeConsistentRead(t *testing.T) {
	n := &testNode{id: "solo", dir: t.TempDir()}
	n.start(t, true)
	defer n.stop(t)
	select {
	case v := <-n.raft.LeaderChanges():
		if !v {
			t.Fatal("first leadership change is false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leadership notification")
	}
	ctx := testCtx(t)
	// Raft's applied index now points at the leader's no-op entry, which
	// the store never sees: ConsistentRead must not wait for it.
	if err := n.raft.ConsistentRead(ctx); err != nil {
		t.Fatal(err)
	}
	o, err := n.raft.Propose(ctx, createCmd("ns", "x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.raft.ConsistentRead(ctx); err != nil || n.store.Index() < o.ResourceVersion {
		t.Fatalf("ConsistentRead = %v at %d", err, n.store.Index())
	}
	if err := n.raft.AddNonvoter("ghost", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	servers, _ := n.raft.Servers()
	if len(servers) != 2 || servers[1].Voter {
		t.Fatalf("servers = %+v", servers)
	}
	if err := n.raft.RemoveServer("ghost"); err != nil {
		t.Fatal(err)
	}
	if err := n.raft.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n.raft.Shutdown(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := n.raft.Propose(ctx, createCmd("ns", "y", nil)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose after shutdown: %v", err)
	}
}

func TestRaftTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: TLS cluster")
	}
	tlsConf := newTestTLS(t)
	nodes := newTestCluster(t, 3, tlsConf)
	ctx := testCtx(t)
	f := followers(nodes)[0]
	obj, err := f.raft.Propose(ctx, createCmd("ns", "secure", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.raft.ConsistentRead(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := n.store.Get("configmaps", "ns", "secure"); err != nil || got.ResourceVersion != obj.ResourceVersion {
			t.Fatalf("%s: %v %v", n.id, got, err)
		}
	}
	// A client without a certificate is refused.
	c, err := tls.Dial("tcp", nodes[0].addr, &tls.Config{RootCAs: tlsConf.client.RootCAs, ServerName: "127.0.0.1"})
	if err == nil {
		_, _ = c.Write([]byte{forwardByte})
		buf := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err = c.Read(buf); err == nil {
			t.Fatal("connection without client certificate accepted")
		}
		c.Close()
	}
}

// newTestTLS makes a throwaway CA and one node certificate for 127.0.0.1,
// used as both server and client certificate.
func newTestTLS(t *testing.T) *testTLS {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shoal test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testTLS{
		server: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
		client: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13},
	}
}

// A leader that has just been elected (here: a one-node cluster
// restarting) answers a consistent read only after it has applied every
// write committed before its term.
func TestRaftNewLeaderReadsEarlierTerms(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts a node")
	}
	n := &testNode{id: "solo", dir: t.TempDir()}
	n.start(t, true)
	ctx := testCtx(t)
	const writes = 200
	for i := range writes {
		if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprint("w", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 5 {
		n.stop(t)
		n.start(t, false)
		eventually(t, "leader again", n.raft.IsLeader)
		if err := n.raft.ConsistentRead(ctx); err != nil {
			t.Fatal(err)
		}
		if items, _, _ := n.store.List("configmaps", "", "", 0); len(items) != writes {
			t.Fatalf("restart %d: a consistent read right after the election saw %d of %d objects", round, len(items), writes)
		}
	}
	n.stop(t)
}

// TestRaftSnapshotsSoonAfterStart checks that an agent snapshots within
// seconds once its log passes the threshold, not after raft's default two
// minutes: agents restarted more often than that never snapshotted, and
// their logs grew until a start replayed hundreds of thousands of entries.
func TestRaftSnapshotsSoonAfterStart(t *testing.T) {
	tuning := testTuning
	tuning.SnapshotThreshold = 100
	n := &testNode{id: "solo", dir: t.TempDir(), tuning: &tuning}
	n.start(t, true)
	defer n.stop(t)
	waitLeader(t, []*testNode{n})
	ctx := testCtx(t)
	for i := range 150 {
		if _, err := n.raft.Propose(ctx, createCmd("ns", fmt.Sprintf("cm-%d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for n.raft.Stats()["last_snapshot_index"] == "0" {
		if time.Now().After(deadline) {
			t.Fatalf("150 entries past a threshold of 100: expected a snapshot within 20s, seen none (stats %v)", n.raft.Stats())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRaftRoles(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	leader := waitLeader(t, nodes)
	extra := &testNode{id: "n3", dir: t.TempDir()}
	extra.start(t, false)
	t.Cleanup(func() { _ = extra.raft.Shutdown() })
	if err := leader.raft.AddNonvoter(extra.id, extra.addr); err != nil {
		t.Fatal(err)
	}
	follower := followers(nodes)[0]
	want := map[string]string{leader.id: RoleLeader, follower.id: RoleVoter, extra.id: RoleNonvoter}
	for _, n := range append(nodes, extra) {
		eventually(t, n.id+" sees every role", func() bool {
			got := n.raft.Roles()
			return len(got) == len(want) && got[leader.id] == want[leader.id] && got[follower.id] == want[follower.id] && got[extra.id] == want[extra.id]
		})
	}
}
