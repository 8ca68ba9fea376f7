package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeRaft is an in-memory RaftConfigurator that records its calls.
type fakeRaft struct {
	mu      sync.Mutex
	servers map[string]Server
	ops     []string
	failAdd error
}

func newFakeRaft(servers ...Server) *fakeRaft {
	r := &fakeRaft{servers: make(map[string]Server)}
	for _, s := range servers {
		r.servers[s.ID] = s
	}
	return r
}

func (r *fakeRaft) Servers() ([]Server, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Server
	for _, s := range r.servers {
		out = append(out, s)
	}
	return out, nil
}

func (r *fakeRaft) AddVoter(id, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAdd != nil {
		return r.failAdd
	}
	r.ops = append(r.ops, "voter "+id+" "+addr)
	r.servers[id] = Server{ID: id, Address: addr, Voter: true}
	return nil
}

func (r *fakeRaft) AddNonvoter(id, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAdd != nil {
		return r.failAdd
	}
	r.ops = append(r.ops, "nonvoter "+id+" "+addr)
	s, ok := r.servers[id]
	r.servers[id] = Server{ID: id, Address: addr, Voter: ok && s.Voter}
	return nil
}

func (r *fakeRaft) RemoveServer(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, "remove "+id)
	delete(r.servers, id)
	return nil
}

// takeOps returns and clears the recorded calls.
func (r *fakeRaft) takeOps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// config renders the configuration as sorted "id:v" / "id:nv" strings.
func (r *fakeRaft) config() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.servers {
		kind := "nv"
		if s.Voter {
			kind = "v"
		}
		out = append(out, s.ID+":"+kind)
	}
	sort.Strings(out)
	return out
}

// fakeMembers is a MemberSource whose members the test sets.
type fakeMembers struct {
	mu      sync.Mutex
	members []Member
	subs    []chan struct{}
}

func (f *fakeMembers) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeMembers) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

func (f *fakeMembers) set(ms ...Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members = ms
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// mem is a member with raft address <name>:7947 in state st since t0+since.
func mem(name string, st State, since time.Duration) Member {
	return Member{Name: name, Addr: name + ":7946", State: st, Since: t0.Add(since), Meta: Meta{RaftAddr: name + ":7947"}}
}

func voter(id string) Server    { return Server{ID: id, Address: id + ":7947", Voter: true} }
func nonvoter(id string) Server { return Server{ID: id, Address: id + ":7947"} }

const grace = 10 * time.Second

func TestVoterReconcile(t *testing.T) {
	now := 100 * time.Second // the clock reads t0+now; members' Since are relative to t0
	cases := []struct {
		name       string
		servers    []Server
		members    []Member
		wantOps    []string
		wantConfig []string
	}{
		{
			name:       "first three voters then non-voters",
			servers:    []Server{voter("a")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Alive, 0), mem("e", Alive, 0)},
			wantOps:    []string{"voter b b:7947", "voter c c:7947", "nonvoter d d:7947", "nonvoter e e:7947"},
			wantConfig: []string{"a:v", "b:v", "c:v", "d:nv", "e:nv"},
		},
		{
			name:       "steady state does nothing",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Alive, 0)},
			wantConfig: []string{"a:v", "b:v", "c:v", "d:nv"},
		},
		{
			name:       "member without raft address yet is skipped",
			servers:    []Server{voter("a")},
			members:    []Member{mem("a", Alive, 0), {Name: "b", State: Alive}},
			wantConfig: []string{"a:v"},
		},
		{
			name:       "dead voter within grace untouched",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Dead, now-grace+time.Second), mem("d", Alive, 0)},
			wantConfig: []string{"a:v", "b:v", "c:v", "d:nv"},
		},
		{
			name:       "suspect voter untouched",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Suspect, 0), mem("d", Alive, 0)},
			wantConfig: []string{"a:v", "b:v", "c:v", "d:nv"},
		},
		{
			name:       "dead voter past grace removed and non-voter promoted",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d"), nonvoter("e")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Dead, now-grace-time.Second), mem("d", Suspect, 0), mem("e", Alive, 0)},
			wantOps:    []string{"remove c", "voter e e:7947"},
			wantConfig: []string{"a:v", "b:v", "d:nv", "e:v"},
		},
		{
			name:       "dead voter past grace removed, no non-voter to promote",
			servers:    []Server{voter("a"), voter("b"), voter("c")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Dead, 0)},
			wantOps:    []string{"remove c"},
			wantConfig: []string{"a:v", "b:v"},
		},
		{
			name:       "left member removed at once",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Left, now), mem("d", Alive, 0)},
			wantOps:    []string{"remove c", "voter d d:7947"},
			wantConfig: []string{"a:v", "b:v", "d:v"},
		},
		{
			name:       "left non-voter removed",
			servers:    []Server{voter("a"), nonvoter("d")},
			members:    []Member{mem("a", Alive, 0), mem("d", Left, now)},
			wantOps:    []string{"remove d"},
			wantConfig: []string{"a:v"},
		},
		{
			name:       "dead non-voters past grace removed, within grace kept",
			servers:    []Server{voter("a"), voter("b"), voter("c"), nonvoter("d"), nonvoter("e"), nonvoter("f")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Dead, 0), mem("e", Dead, 0), mem("f", Dead, now)},
			wantOps:    []string{"remove d", "remove e"},
			wantConfig: []string{"a:v", "b:v", "c:v", "f:nv"},
		},
		{
			name:       "self never removed",
			servers:    []Server{voter("a"), voter("b"), voter("c")},
			members:    []Member{mem("a", Dead, 0), mem("b", Alive, 0), mem("c", Alive, 0)},
			wantConfig: []string{"a:v", "b:v", "c:v"},
		},
		{
			name:       "at most one voter removed per pass",
			servers:    []Server{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f"), nonvoter("g")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Dead, 0), mem("e", Left, now), mem("f", Alive, 0), mem("g", Dead, 0)},
			wantOps:    []string{"remove d", "remove g"},
			wantConfig: []string{"a:v", "b:v", "c:v", "e:v", "f:nv"},
		},
		{
			name:       "moved member keeps its suffrage at the new address",
			servers:    []Server{voter("a"), {ID: "b", Address: "old:7947", Voter: true}, {ID: "c", Address: "old:7947"}, voter("d")},
			members:    []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Alive, 0)},
			wantOps:    []string{"voter b b:7947", "nonvoter c c:7947"},
			wantConfig: []string{"a:v", "b:v", "c:nv", "d:v"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: t0.Add(now)}
			raft := newFakeRaft(tc.servers...)
			members := &fakeMembers{members: tc.members}
			r := NewVoterReconciler("a", members, raft, 3, grace, testLogger(t), clock.Now)
			if err := r.Reconcile(); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if got := raft.takeOps(); !slices.Equal(got, tc.wantOps) {
				t.Errorf("ops\n got %q\nwant %q", got, tc.wantOps)
			}
			if got := raft.config(); !slices.Equal(got, tc.wantConfig) {
				t.Errorf("config\n got %q\nwant %q", got, tc.wantConfig)
			}
			// Level-triggered: a second pass over the result is a no-op
			// unless the first was limited to one voter removal.
			if err := r.Reconcile(); err != nil {
				t.Fatal(err)
			}
			if ops := raft.takeOps(); len(ops) > 0 && tc.name != "at most one voter removed per pass" {
				t.Errorf("second pass not idempotent: %q", ops)
			}
		})
	}
}

func TestVoterReconcileMissingMember(t *testing.T) {
	clock := &fakeClock{now: t0}
	raft := newFakeRaft(voter("a"), voter("b"), voter("x"), nonvoter("d"))
	members := &fakeMembers{members: []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("d", Alive, 0)}}
	r := NewVoterReconciler("a", members, raft, 3, grace, testLogger(t), clock.Now)

	for _, step := range []struct {
		advance time.Duration
		want    []string
	}{
		{0, nil},     // x first seen missing
		{grace, nil}, // exactly grace: still kept
		{time.Second, []string{"remove x", "voter d d:7947"}}, // past grace
		{time.Second, nil},
	} {
		clock.Advance(step.advance)
		if err := r.Reconcile(); err != nil {
			t.Fatal(err)
		}
		if got := raft.takeOps(); !slices.Equal(got, step.want) {
			t.Fatalf("after +%v: ops %q, want %q", step.advance, got, step.want)
		}
	}
}

func TestVoterReconcileErrors(t *testing.T) {
	raft := newFakeRaft(voter("a"))
	raft.failAdd = errors.New("not leader")
	members := &fakeMembers{members: []Member{mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0)}}
	r := NewVoterReconciler("a", members, raft, 3, grace, testLogger(t), nil)
	err := r.Reconcile()
	if err == nil || !errors.Is(err, raft.failAdd) {
		t.Fatalf("Reconcile = %v, want the raft error", err)
	}
	for _, id := range []string{"b", "c"} {
		if want := fmt.Sprintf("add %s: not leader", id); !containsLine(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func containsLine(s, line string) bool {
	return slices.Contains(splitLines(s), line)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestVoterReconcilerRun(t *testing.T) {
	raft := newFakeRaft(voter("a"))
	members := &fakeMembers{members: []Member{mem("a", Alive, 0), mem("b", Alive, 0)}}
	r := NewVoterReconciler("a", members, raft, 3, grace, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	eventually(t, 5*time.Second, "initial pass adds b", func() bool {
		return slices.Equal(raft.config(), []string{"a:v", "b:v"})
	})
	members.set(mem("a", Alive, 0), mem("b", Alive, 0), mem("c", Alive, 0), mem("d", Alive, 0))
	eventually(t, 5*time.Second, "event adds c and d", func() bool {
		return slices.Equal(raft.config(), []string{"a:v", "b:v", "c:v", "d:nv"})
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
