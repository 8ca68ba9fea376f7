package consensus

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The voter rules, as one pure function of what the leader knows: which
// servers raft has, which of them are healthy and for how long, which are
// down and for how long, and whether the configuration is settled. The
// autopilot promoter (voters_autopilot.go) feeds it and applies its answer.
// docs/operations.md, section "Voters", says the rules in words.

// serverView is one server of the raft configuration as the rules see it.
type serverView struct {
	ID string
	// Voter and Leader are its raft suffrage and whether it leads.
	Voter, Leader bool
	// Healthy: alive in gossip, answering the leader's stats RPC, heard
	// from the leader recently, on the leader's term and not far behind its
	// log (autopilot's health). HealthyFor is how long that has held
	// without a break (0 when not healthy).
	Healthy    bool
	HealthyFor time.Duration
	// DownFor is how long the server has been down without a break: not
	// alive in gossip and not answering the stats RPC, as seen by this
	// leader (0 when it is not down).
	DownFor time.Duration
	// Left: gossip says it left gracefully.
	Left bool
	// Superseded: another live member now advertises its raft address, so
	// it cannot be running there.
	Superseded bool
}

// policyInput is everything one decision needs.
type policyInput struct {
	Servers []serverView
	// Target is the number of voters to keep (1, 3, 5 or 7).
	Target int
	// Grace is how long a voter must be down before it may be demoted;
	// Stabilization how long a non-voter must be healthy before it may be
	// promoted; Reap how long a non-voter must be down before it is
	// removed.
	Grace, Stabilization, Reap time.Duration
	// Unsettled, when not empty, says why no change may be made now: a
	// configuration change not yet committed, a leader too new, a change
	// made too recently, or a health view older than the configuration.
	Unsettled string
}

// actionKind is what the rules decide to do.
type actionKind int

const (
	actNone actionKind = iota
	actDemote
	actPromote
	actRemove
)

func (k actionKind) String() string {
	return [...]string{"none", "demote", "promote", "remove"}[k]
}

// action is one decision: at most one configuration change at a time.
type action struct {
	Kind actionKind
	// ID is the server to change (empty for actNone).
	ID string
	// Next, for actPromote, is a second server to promote as soon as ID's
	// promotion commits, so that the voter count does not stay even.
	Next string
	// Why says why, or why not, for the log.
	Why string
}

// quorum is the majority of n voters.
func quorum(n int) int { return n/2 + 1 }

// decide applies the voter rules and returns the one change to make now, or
// actNone with the reason nothing is done. In order:
//
//  1. Nothing while the configuration is unsettled.
//  2. Demote a voter down for at least Grace, if the healthy voters left
//     are still a quorum of the voters left, and if it helps: a healthy
//     non-voter is ready to take its seat, or there are more voters than
//     the target, or dropping every such voter shrinks the quorum. A dead
//     voter that nothing can replace keeps its seat, so it is a voter again
//     the moment it comes back.
//  3. Promote the non-voter healthy the longest (at least Stabilization)
//     while voters are below the target, if the healthy voters after it
//     are a quorum; never to an even count unless a second promotion is
//     ready to follow, and then both back to back (an even count tolerates
//     no more failures than the odd count below it, and needs one more
//     server to commit).
//  4. Remove a non-voter that left, whose address another member took, or
//     that has been down for Reap.
func decide(in policyInput) action {
	if in.Unsettled != "" {
		return action{Why: in.Unsettled}
	}
	var voters, candidates, downVoters []serverView
	healthyVoters := 0
	for _, s := range in.Servers {
		switch {
		case s.Voter:
			voters = append(voters, s)
			if s.Healthy {
				healthyVoters++
			}
			if !s.Leader && !s.Healthy && s.DownFor >= in.Grace {
				downVoters = append(downVoters, s)
			}
		case s.Healthy && s.HealthyFor >= in.Stabilization:
			candidates = append(candidates, s)
		}
	}
	n := len(voters)
	// Longest down first; longest healthy first; then by id.
	slices.SortFunc(downVoters, func(a, b serverView) int {
		return cmp.Or(cmp.Compare(b.DownFor, a.DownFor), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(candidates, func(a, b serverView) int {
		return cmp.Or(cmp.Compare(b.HealthyFor, a.HealthyFor), cmp.Compare(a.ID, b.ID))
	})

	var why []string
	if len(downVoters) > 0 {
		d := downVoters[0]
		replacement := len(candidates) > 0 && n-1 < in.Target
		useful := replacement || n > in.Target || quorum(n-len(downVoters)) < quorum(n)
		switch {
		case healthyVoters < quorum(n-1):
			why = append(why, fmt.Sprintf("voter %s down for %s stays: %d healthy voters would not be a quorum of %d", d.ID, d.DownFor.Round(time.Second), healthyVoters, n-1))
		case !useful:
			why = append(why, fmt.Sprintf("voter %s down for %s stays: no healthy non-voter to replace it, and dropping it would not lower the quorum", d.ID, d.DownFor.Round(time.Second)))
		default:
			reason := fmt.Sprintf("down for %s; %d of %d remaining voters healthy", d.DownFor.Round(time.Second), healthyVoters, n-1)
			if replacement {
				reason += "; " + candidates[0].ID + " is ready to replace it"
			}
			return action{Kind: actDemote, ID: d.ID, Why: reason}
		}
	}

	if n < in.Target {
		switch {
		case len(candidates) == 0:
			why = append(why, fmt.Sprintf("%d of %d voters: no non-voter healthy for %s", n, in.Target, in.Stabilization))
		case healthyVoters+1 < quorum(n+1):
			why = append(why, fmt.Sprintf("%d of %d voters: promoting with %d healthy voters would leave no quorum", n, in.Target, healthyVoters))
		case n%2 == 1 && (len(candidates) < 2 || n+2 > in.Target):
			why = append(why, fmt.Sprintf("%d of %d voters: waiting for a second healthy non-voter, so the count does not stay even", n, in.Target))
		case n%2 == 1:
			c, d := candidates[0], candidates[1]
			return action{Kind: actPromote, ID: c.ID, Next: d.ID, Why: fmt.Sprintf("healthy for %s and %s; %d of %d voters", c.HealthyFor.Round(time.Millisecond), d.HealthyFor.Round(time.Millisecond), n, in.Target)}
		default:
			c := candidates[0]
			return action{Kind: actPromote, ID: c.ID, Why: fmt.Sprintf("healthy for %s; %d of %d voters", c.HealthyFor.Round(time.Millisecond), n, in.Target)}
		}
	}

	var gone []serverView
	for _, s := range in.Servers {
		if !s.Voter && (s.Left || s.Superseded || (in.Reap > 0 && s.DownFor >= in.Reap)) {
			gone = append(gone, s)
		}
	}
	slices.SortFunc(gone, func(a, b serverView) int { return cmp.Compare(a.ID, b.ID) })
	if len(gone) > 0 {
		s := gone[0]
		reason := fmt.Sprintf("down for %s", s.DownFor.Round(time.Second))
		switch {
		case s.Left:
			reason = "left the cluster"
		case s.Superseded:
			reason = "another member now has its raft address"
		}
		return action{Kind: actRemove, ID: s.ID, Why: reason}
	}
	if len(why) == 0 {
		return action{Why: "nothing to do"}
	}
	return action{Why: joinReasons(why)}
}

func joinReasons(why []string) string {
	s := why[0]
	for _, w := range why[1:] {
		s += "; " + w
	}
	return s
}
