package consensus

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	tGrace = 15 * time.Second
	tStab  = 3 * time.Second
	tReap  = time.Hour
)

// Server views for the tables: a healthy voter, the leader, a non-voter
// healthy for a while, and servers that are down.
func hv(id string) serverView {
	return serverView{ID: id, Voter: true, Healthy: true, HealthyFor: time.Minute}
}
func ld(id string) serverView {
	return serverView{ID: id, Voter: true, Leader: true, Healthy: true, HealthyFor: time.Minute}
}
func nv(id string, healthyFor time.Duration) serverView {
	return serverView{ID: id, Healthy: healthyFor > 0, HealthyFor: healthyFor}
}
func downV(id string, d time.Duration) serverView  { return serverView{ID: id, Voter: true, DownFor: d} }
func downNV(id string, d time.Duration) serverView { return serverView{ID: id, DownFor: d} }
func sickV(id string) serverView                   { return serverView{ID: id, Voter: true} }

func TestDecide(t *testing.T) {
	cases := []struct {
		name      string
		servers   []serverView
		target    int
		unsettled string
		want      action // Kind and ID; Why is checked to contain wantWhy
		wantWhy   string
	}{
		// Stability and one change at a time.
		{name: "unsettled: nothing, whatever is due", unsettled: "a configuration change is not committed yet",
			servers: []serverView{ld("a"), hv("b"), downV("c", time.Hour), nv("d", time.Minute)},
			want:    action{}, wantWhy: "not committed"},
		{name: "steady: three healthy voters and spares",
			servers: []serverView{ld("a"), hv("b"), hv("c"), nv("d", time.Minute), nv("e", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},
		{name: "one change at a time: the demotion before the removal of a left non-voter",
			servers: []serverView{ld("a"), hv("b"), downV("c", tGrace), nv("d", time.Minute), {ID: "e", Left: true}},
			want:    action{Kind: actDemote, ID: "c"}},

		// Grace.
		{name: "grace: a voter down for less than the grace keeps its seat",
			servers: []serverView{ld("a"), hv("b"), downV("c", tGrace-time.Second), nv("d", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},
		{name: "grace: a voter down for the grace is demoted for a ready non-voter",
			servers: []serverView{ld("a"), hv("b"), downV("c", tGrace), nv("d", time.Minute)},
			want:    action{Kind: actDemote, ID: "c"}, wantWhy: "d is ready to replace it"},
		{name: "grace: a down voter nothing can replace keeps its seat (3 voters)",
			servers: []serverView{ld("a"), hv("b"), downV("c", time.Hour)},
			want:    action{}, wantWhy: "no healthy non-voter to replace it"},
		{name: "grace: an unready non-voter is no replacement",
			servers: []serverView{ld("a"), hv("b"), downV("c", time.Hour), nv("d", tStab-time.Second)},
			want:    action{}, wantWhy: "no healthy non-voter to replace it"},
		{name: "the leader is never demoted",
			servers: []serverView{{ID: "a", Voter: true, Leader: true, DownFor: time.Hour}, hv("b"), hv("c"), nv("d", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},

		// Quorum guard.
		{name: "quorum guard: no demotion if the healthy voters left are not a quorum",
			servers: []serverView{ld("a"), sickV("b"), downV("c", time.Hour), nv("d", time.Minute)},
			want:    action{}, wantWhy: "1 healthy voters would not be a quorum of 2"},
		{name: "quorum guard: 5 voters, two down, no spare: demoting both lowers the quorum, longest down first",
			servers: []serverView{ld("a"), hv("b"), hv("c"), downV("d", tGrace), downV("e", time.Hour)},
			target:  5, want: action{Kind: actDemote, ID: "e"}},
		{name: "quorum guard: 5 voters, one down, no spare: dropping it would not lower the quorum",
			servers: []serverView{ld("a"), hv("b"), hv("c"), hv("d"), downV("e", time.Hour)},
			target:  5, want: action{}, wantWhy: "would not lower the quorum"},
		{name: "quorum guard: 4 voters, one down, no spare: demoted (3 need 2, 4 need 3)",
			servers: []serverView{ld("a"), hv("b"), hv("c"), downV("d", time.Hour)},
			target:  5, want: action{Kind: actDemote, ID: "d"}},
		{name: "quorum guard: 5 voters, three down: nothing (no quorum to keep)",
			servers: []serverView{ld("a"), hv("b"), downV("c", time.Hour), downV("d", time.Hour), downV("e", time.Hour), nv("f", time.Minute)},
			target:  5, want: action{}, wantWhy: "2 healthy voters would not be a quorum of 4"},
		{name: "over target: a down voter is demoted without a replacement",
			servers: []serverView{ld("a"), hv("b"), hv("c"), downV("d", tGrace)},
			want:    action{Kind: actDemote, ID: "d"}},

		// Promotions.
		{name: "promote: the non-voter healthy the longest, to make the count odd",
			servers: []serverView{ld("a"), hv("b"), nv("c", 5*time.Second), nv("d", time.Minute)},
			want:    action{Kind: actPromote, ID: "d"}},
		{name: "promote: not before the stabilization time",
			servers: []serverView{ld("a"), hv("b"), nv("c", tStab-time.Millisecond)},
			want:    action{}, wantWhy: "no non-voter healthy for 3s"},
		{name: "promote: an unhealthy non-voter never",
			servers: []serverView{ld("a"), hv("b"), nv("c", 0)},
			want:    action{}, wantWhy: "no non-voter healthy"},
		{name: "promote: one voter and one candidate wait for a second (2 voters tolerate no more than 1)",
			servers: []serverView{ld("a"), nv("b", time.Minute)},
			want:    action{}, wantWhy: "waiting for a second healthy non-voter"},
		{name: "promote: one voter and two candidates: both, back to back",
			servers: []serverView{ld("a"), nv("b", time.Minute), nv("c", 10*time.Second), nv("d", 5*time.Second)},
			want:    action{Kind: actPromote, ID: "b", Next: "c"}},
		{name: "promote: three voters of five and two candidates: both",
			servers: []serverView{ld("a"), hv("b"), hv("c"), nv("d", time.Minute), nv("e", 10*time.Second)},
			target:  5, want: action{Kind: actPromote, ID: "d", Next: "e"}},
		{name: "promote: never above the target",
			servers: []serverView{ld("a"), hv("b"), hv("c"), nv("d", time.Minute), nv("e", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},
		{name: "promote: target 1 keeps one voter",
			servers: []serverView{ld("a"), nv("b", time.Minute), nv("c", time.Minute)},
			target:  1, want: action{}, wantWhy: "nothing to do"},
		{name: "promote: guard, 4 voters of which 3 unhealthy: a fifth would not make a quorum",
			servers: []serverView{ld("a"), sickV("b"), sickV("c"), sickV("d"), nv("e", time.Minute)},
			target:  5, want: action{}, wantWhy: "would leave no quorum"},
		{name: "promote: guard, 4 voters of which 2 unhealthy: a fifth makes 3 of 5",
			servers: []serverView{ld("a"), hv("b"), sickV("c"), sickV("d"), nv("e", time.Minute)},
			target:  5, want: action{Kind: actPromote, ID: "e"}},
		{name: "promote: after a demotion, the replacement",
			servers: []serverView{ld("a"), hv("b"), {ID: "c", DownFor: time.Hour}, nv("d", time.Minute)},
			want:    action{Kind: actPromote, ID: "d"}},

		// Flapping.
		{name: "flapping voter: its down time restarts at every answer, so it keeps its seat",
			servers: []serverView{ld("a"), hv("b"), downV("c", 2*time.Second), nv("d", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},
		{name: "flapping non-voter: its healthy time restarts at every lapse, so it is not promoted",
			servers: []serverView{ld("a"), hv("b"), nv("c", time.Second), nv("d", 2*time.Second)},
			want:    action{}, wantWhy: "no non-voter healthy for 3s"},

		// Non-voters.
		{name: "a non-voter that left is removed",
			servers: []serverView{ld("a"), hv("b"), hv("c"), {ID: "d", Left: true}},
			want:    action{Kind: actRemove, ID: "d"}, wantWhy: "left"},
		{name: "a non-voter whose address another member took is removed",
			servers: []serverView{ld("a"), hv("b"), hv("c"), {ID: "d", Superseded: true}},
			want:    action{Kind: actRemove, ID: "d"}, wantWhy: "another member"},
		{name: "a non-voter down for the reap time is removed, not before",
			servers: []serverView{ld("a"), hv("b"), hv("c"), downNV("d", tReap), downNV("e", tReap-time.Second)},
			want:    action{Kind: actRemove, ID: "d"}},
		{name: "a voter that left is not removed outright: it waits for the grace like a dead one",
			servers: []serverView{ld("a"), hv("b"), {ID: "c", Voter: true, Left: true, DownFor: time.Second}, nv("d", time.Minute)},
			want:    action{}, wantWhy: "nothing to do"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == 0 {
				target = 3
			}
			got := decide(policyInput{Servers: tc.servers, Target: target, Grace: tGrace, Stabilization: tStab, Reap: tReap, Unsettled: tc.unsettled})
			if got.Kind != tc.want.Kind || got.ID != tc.want.ID || got.Next != tc.want.Next {
				t.Fatalf("decide = %s %q then %q (%s), want %s %q then %q", got.Kind, got.ID, got.Next, got.Why, tc.want.Kind, tc.want.ID, tc.want.Next)
			}
			if !strings.Contains(got.Why, tc.wantWhy) {
				t.Fatalf("decide's reason %q does not say %q", got.Why, tc.wantWhy)
			}
		})
	}
}

// model applies decide's answers to a set of servers until it answers
// nothing, as the leader does round after round; it returns the voters.
func converge(t *testing.T, servers map[string]serverView, target int) []string {
	t.Helper()
	for round := 0; ; round++ {
		if round > 20 {
			t.Fatalf("no fixed point after 20 changes: %v", servers)
		}
		var in []serverView
		for _, s := range servers {
			in = append(in, s)
		}
		sort.Slice(in, func(i, j int) bool { return in[i].ID < in[j].ID })
		a := decide(policyInput{Servers: in, Target: target, Grace: tGrace, Stabilization: tStab, Reap: tReap})
		s := servers[a.ID]
		switch a.Kind {
		case actNone:
			var voters []string
			for id, s := range servers {
				if s.Voter {
					voters = append(voters, id)
				}
			}
			slices.Sort(voters)
			return voters
		case actDemote:
			s.Voter = false
		case actPromote:
			s.Voter = true
			if a.Next != "" {
				n := servers[a.Next]
				n.Voter = true
				servers[a.Next] = n
			}
		case actRemove:
			delete(servers, a.ID)
			continue
		}
		servers[a.ID] = s
	}
}

// TestDecideConverges: from the situations the node tests provoke, the
// rules reach the target with the healthy servers, one change at a time.
func TestDecideConverges(t *testing.T) {
	t.Run("two voters of five lost one after the other", func(t *testing.T) {
		s := map[string]serverView{"a": ld("a"), "b": hv("b"), "c": downV("c", time.Hour), "d": nv("d", time.Minute), "e": nv("e", time.Minute)}
		if got := converge(t, s, 3); !slices.Equal(got, []string{"a", "b", "d"}) {
			t.Fatalf("after the first loss: voters %v, want [a b d]", got)
		}
		b := s["b"]
		b.Healthy, b.HealthyFor, b.DownFor = false, 0, time.Hour
		s["b"] = b
		if got := converge(t, s, 3); !slices.Equal(got, []string{"a", "d", "e"}) {
			t.Fatalf("after the second loss: voters %v, want [a d e]", got)
		}
	})
	t.Run("a new cluster of three grows to three voters", func(t *testing.T) {
		s := map[string]serverView{"a": ld("a"), "b": nv("b", time.Minute), "c": nv("c", time.Minute)}
		if got := converge(t, s, 3); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("voters %v, want [a b c]", got)
		}
	})
	t.Run("seven nodes, five voters, two lost: back to five", func(t *testing.T) {
		s := map[string]serverView{"a": ld("a"), "b": hv("b"), "c": hv("c"), "d": downV("d", time.Hour), "e": downV("e", time.Hour), "f": nv("f", time.Minute), "g": nv("g", time.Minute)}
		if got := converge(t, s, 5); !slices.Equal(got, []string{"a", "b", "c", "f", "g"}) {
			t.Fatalf("voters %v, want [a b c f g]", got)
		}
	})
}
