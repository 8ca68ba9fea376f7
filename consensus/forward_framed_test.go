package consensus

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// forwardLog records the paths of the forwarding requests a node serves.
type forwardLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *forwardLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.paths
	l.paths = nil
	return out
}

// serveForwards makes n's forwarding server answer with h (nil: n's own
// handler) and record each request's path. Call it before anything is
// forwarded to n (newTestCluster forwards nothing): the server reads its
// Handler when a request arrives, after the request's bytes crossed a
// socket written after this change.
func serveForwards(n *testNode, h http.Handler) *forwardLog {
	if h == nil {
		h = n.raft.fwd.server.Handler
	}
	l := &forwardLog{}
	n.raft.fwd.server.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, req.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, req)
	})
	return l
}

// entryType is the type of the command in n's raft log at index, inside
// a compressed entry if it is one.
func entryType(t *testing.T, n *testNode, index uint64) msgType {
	t.Helper()
	var l raft.Log
	if err := n.raft.logs.GetLog(index, &l); err != nil {
		t.Fatalf("%s: log %d: %v", n.id, index, err)
	}
	data := l.Data
	if msgType(data[0]) == msgCompressed {
		data = inflateEntry(index, data[1:])
	}
	return msgType(data[0])
}

// forwardedCmd is a create whose fields are not in the order
// encoding/json would sort them: a framed create keeps that order.
func forwardedCmd(name string) *Command {
	obj := `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"labels":{"app":"web"},"annotations":{"a":"1"}},` +
		`"data":{"z":"26","a":"1","quote":"\"}{"},"immutable":false}`
	return &Command{Op: OpCreate, Resource: "configmaps", Namespace: "ns", Name: name, Object: []byte(obj), UID: "uid-" + name, Time: testTime}
}

// sameContent fails unless a and b hold the same members, in the same
// order, apart from what differs between two creates (name, uid,
// resourceVersion).
func sameContent(t *testing.T, a, b *Object) {
	t.Helper()
	norm := func(o *Object) (any, []string) {
		m := decodeAny(t, o.Raw).(map[string]any)
		meta := m["metadata"].(map[string]any)
		for _, k := range []string{"name", "uid", "resourceVersion"} {
			meta[k] = "-"
		}
		var order []string
		for _, mb := range members(t, o.Raw) {
			order = append(order, mb.name)
		}
		return m, order
	}
	am, ao := norm(a)
	bm, bo := norm(b)
	if !reflect.DeepEqual(am, bm) || !slices.Equal(ao, bo) || !reflect.DeepEqual(a.Labels, b.Labels) {
		t.Fatalf("%s stored\n %s\n%s stored\n %s", a.Name, a.Raw, b.Name, b.Raw)
	}
}

// A create proposed on a follower goes to the leader as a framed entry
// (POST /apply-framed) and is stored as the same create proposed on the
// leader, byte for byte on every replica; the leader logs it framed only
// once every server runs v0.3.0.
func TestRaftForwardFramed(t *testing.T) {
	tests := []struct {
		name     string
		oldest   string // the version one follower runs
		framed   bool
		wantType msgType
		// overHTTP makes the follower forward over HTTP, as to a leader
		// that did not take the stream; else the stream carries it.
		overHTTP bool
	}{
		{"feature on", "v0.3.0", true, msgFramed, false},
		{"feature off", "v0.2.0", false, msgCommand, false},
		{"feature on, over HTTP", "v0.3.0", true, msgFramed, true},
		{"feature off, over HTTP", "v0.2.0", false, msgCommand, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newTestCluster(t, 3, nil)
			leader := waitLeader(t, nodes)
			f := followers(nodes)[0]
			forwarded := serveForwards(leader, nil)
			wantHTTP := []string{"/apply-framed"}
			if tc.overHTTP {
				refuseStream(f, leader)
			} else {
				wantHTTP = nil
			}
			g := &fakeGossip{}
			for _, n := range nodes {
				g.setVersion(n.id, n.addr, "v0.3.0")
			}
			g.setVersion(followers(nodes)[1].id, followers(nodes)[1].addr, tc.oldest)
			ctx, cancel := context.WithCancel(testCtx(t))
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = leader.raft.RunFeatureGate(ctx, g, testLogger(t)) }()
			t.Cleanup(func() { cancel(); wg.Wait() })
			eventually(t, "the gate's first verdict", func() bool { return leader.raft.gate.on.Load() != nil })
			if got := leader.raft.FeatureEnabled(FeatureFramedCommands); got != tc.framed {
				t.Fatalf("framed commands enabled: %v with a server at %s, want %v", got, tc.oldest, tc.framed)
			}

			viaLeader, err := leader.raft.Propose(ctx, forwardedCmd("via-leader"))
			if err != nil {
				t.Fatalf("propose on the leader: %v", err)
			}
			if got := forwarded.take(); len(got) != 0 {
				t.Fatalf("a proposal on the leader was forwarded: %q", got)
			}
			viaFollower, err := f.raft.Propose(ctx, forwardedCmd("via-follower"))
			if err != nil {
				t.Fatalf("propose on follower %s: %v", f.id, err)
			}
			if got := forwarded.take(); !slices.Equal(got, wantHTTP) {
				t.Fatalf("the leader served %q over HTTP for a follower's create, want %q", got, wantHTTP)
			}
			for _, o := range []*Object{viaLeader, viaFollower} {
				if typ := entryType(t, leader, o.ResourceVersion); typ != tc.wantType {
					t.Fatalf("%s logged as type %d, want %d", o.Name, typ, tc.wantType)
				}
			}

			stored, err := leader.store.Get("configmaps", "ns", "via-follower")
			if err != nil {
				t.Fatal(err)
			}
			if string(stored.Raw) != string(viaFollower.Raw) || stored.ResourceVersion != viaFollower.ResourceVersion ||
				stored.UID != "uid-via-follower" || !reflect.DeepEqual(stored.Labels, viaFollower.Labels) {
				t.Fatalf("the follower was answered %+v (%s)\nthe leader stored %+v (%s)", viaFollower, viaFollower.Raw, stored, stored.Raw)
			}
			sameContent(t, viaLeader, viaFollower)
			for _, n := range nodes {
				for _, want := range []*Object{viaLeader, viaFollower} {
					eventually(t, n.id+" applies "+want.Name, func() bool {
						o, err := n.store.Get("configmaps", "ns", want.Name)
						return err == nil && string(o.Raw) == string(want.Raw) && o.ResourceVersion == want.ResourceVersion
					})
				}
			}

			// Errors keep their identity through the framed forward.
			if _, err := f.raft.Propose(ctx, forwardedCmd("via-leader")); !errors.Is(err, ErrAlreadyExists) {
				t.Fatalf("duplicate create on the follower: %v, want ErrAlreadyExists", err)
			}
			if got := forwarded.take(); !slices.Equal(got, wantHTTP) {
				t.Fatalf("the leader served %q over HTTP for a follower's duplicate create, want %q", got, wantHTTP)
			}
		})
	}
}

// A leader older than v0.3.0 answers 404 for /apply-framed; the
// follower then sends the command as JSON to /apply.
func TestRaftForwardFramedFallsBack(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	leader := waitLeader(t, nodes)
	f := followers(nodes)[0]
	ctx := testCtx(t)
	// The routes of a v0.2 leader, which does not take the stream either.
	refuseStream(f, leader)
	old := http.NewServeMux()
	old.HandleFunc("POST /apply", leader.raft.fwd.handleApply)
	old.HandleFunc("POST /readindex", leader.raft.fwd.handleReadIndex)
	forwarded := serveForwards(leader, old)

	obj, err := f.raft.Propose(ctx, forwardedCmd("a"))
	if err != nil {
		t.Fatalf("propose on the follower: %v", err)
	}
	if got := forwarded.take(); !slices.Equal(got, []string{"/apply-framed", "/apply"}) {
		t.Fatalf("the old leader served %q, want /apply-framed (404) then /apply", got)
	}
	if typ := entryType(t, leader, obj.ResourceVersion); typ != msgCommand {
		t.Fatalf("the old leader logged type %d, want a JSON command (%d)", typ, msgCommand)
	}
	stored, err := leader.store.Get("configmaps", "ns", "a")
	if err != nil || string(stored.Raw) != string(obj.Raw) || stored.UID != "uid-a" || stored.Labels["app"] != "web" {
		t.Fatalf("the leader stored %+v, %v; the follower was answered %+v", stored, err, obj)
	}
	want, err := createdDoc(forwardedCmd("a"), obj.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.Raw) != string(want.Raw) {
		t.Fatalf("stored\n %s\nwant what a JSON create stores\n %s", stored.Raw, want.Raw)
	}

	if _, err := f.raft.Propose(ctx, forwardedCmd("a")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate create through the fallback: %v, want ErrAlreadyExists", err)
	}
	if got := forwarded.take(); !slices.Equal(got, []string{"/apply-framed", "/apply"}) {
		t.Fatalf("the old leader served %q for the duplicate, want /apply-framed (404) then /apply", got)
	}
}

// The leader refuses a framed entry it cannot read whole, as it refuses
// such a JSON command (TestForwardRejectsUnknownFields).
func TestForwardFramedRejects(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	leader := waitLeader(t, nodes)
	f := followers(nodes)[0]
	ctx := testCtx(t)
	jsonEntry, err := encodeCommand(forwardedCmd("a"))
	if err != nil {
		t.Fatal(err)
	}
	const obj = `{"kind":"ConfigMap"}`
	for name, entry := range map[string][]byte{
		"unknown field":    append([]byte{byte(msgFramed)}, framedBody(header(cmA, unknownTag), obj)...),
		"unknown op":       append([]byte{byte(msgFramed)}, framedBody(header(cmAOp4), obj)...),
		"bad length":       {byte(msgFramed), 0x80},
		"a JSON command":   jsonEntry,
		"an empty entry":   {},
		"header cut short": append([]byte{byte(msgFramed)}, framedBody(header(cmA, tagName, 9), "")...),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := f.raft.fwd.callFramed(ctx, leader.addr, entry)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.err(); !errors.Is(err, ErrInvalid) || resp.Index != 0 || resp.Object != nil {
				var raw []byte
				if resp.Object != nil {
					raw = resp.Object.Raw
				}
				t.Fatalf("forwarded %q: index %d, object %s, error %v; want ErrInvalid and nothing applied", entry, resp.Index, raw, err)
			}
		})
	}
	if _, err := leader.store.Get("configmaps", "ns", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused entry was applied: %v", err)
	}
}

// refuseStream makes f forward to leader over HTTP, as after a leader
// from before the stream dropped it (TestForwardStreamOldLeaderFallsBack
// covers the refusal itself).
func refuseStream(f, leader *testNode) {
	f.raft.fwd.streamMu.Lock()
	defer f.raft.fwd.streamMu.Unlock()
	f.raft.fwd.noStream[leader.addr] = time.Now().Add(time.Hour)
}
