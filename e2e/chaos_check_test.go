package e2e

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// What a chaos run's history says: operation counts, linearizability and
// the longest stretches without a successful write.

// opCounts tallies outcomes; failed ones certainly had no effect (409,
// 404, refused dial), unknown ones may have.
type opCounts struct{ ok, failed, unknown, unexpected int }

func countOps(ops []chaosOp) map[regOpKind]*opCounts {
	m := map[regOpKind]*opCounts{}
	for _, op := range ops {
		c := m[op.In.Kind]
		if c == nil {
			c = &opCounts{}
			m[op.In.Kind] = c
		}
		switch op.Out.Result {
		case resOK:
			c.ok++
		case resUnknown:
			c.unknown++
		default:
			c.failed++
		}
		if op.Unexpected {
			c.unexpected++
		}
	}
	return m
}

func (c opCounts) String() string {
	return fmt.Sprintf("%d ok, %d failed, %d unknown", c.ok, c.failed, c.unknown)
}

// porcupineHistory turns the history into porcupine operations. An
// operation of unknown outcome returns at the end of the history (it may
// take effect at any time after its call); a read of unknown outcome
// says nothing and is left out, as is an operation that was never sent.
// The probe's register is left out too: dozens of concurrent writes with
// no reads make porcupine's search explode and say little; writeOrder
// checks them.
func porcupineHistory(ops []chaosOp) []porcupine.Operation {
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.Ret)
	}
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Out.Result == resFailed || (op.Out.Result == resUnknown && op.In.Kind == opRead) || op.In.Key == probeKey {
			continue
		}
		ret := op.Ret
		if op.Out.Result == resUnknown {
			ret = end + time.Millisecond
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client, Input: op.In, Output: op.Out,
			Call: int64(op.Call), Return: int64(ret),
			Metadata: fmt.Sprintf("peer node-%d %s", op.Peer, op.Detail),
		})
	}
	return out
}

// writeOrder checks what resourceVersions promise across registers: they
// are raft indexes, so a write acknowledged before another write began
// has the smaller one. It returns the first few violations.
func writeOrder(ops []chaosOp) []string {
	var writes []chaosOp
	for _, op := range ops {
		if op.Out.Result == resOK && op.In.Kind != opRead {
			writes = append(writes, op)
		}
	}
	byRet := append([]chaosOp(nil), writes...)
	sort.Slice(byRet, func(i, j int) bool { return byRet[i].Ret < byRet[j].Ret })
	sort.Slice(writes, func(i, j int) bool { return writes[i].Call < writes[j].Call })
	var bad []string
	var top chaosOp // the acknowledged write with the highest rv so far
	next := 0
	for _, w := range writes {
		for ; next < len(byRet) && byRet[next].Ret < w.Call; next++ {
			if byRet[next].Out.RV > top.Out.RV {
				top = byRet[next]
			}
		}
		if top.Out.RV > 0 && w.Out.RV <= top.Out.RV && len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("%s %s(%q) through node-%d at %.3fs-%.3fs got resourceVersion %d, but %s %s(%q) through node-%d had returned %d at %.3fs",
				w.In.Key, w.In.Kind, w.In.Value, w.Peer, w.Call.Seconds(), w.Ret.Seconds(), w.Out.RV,
				top.In.Key, top.In.Kind, top.In.Value, top.Peer, top.Out.RV, top.Ret.Seconds()))
		}
	}
	return bad
}

// writeTimes are the return times of the successful writes (create,
// write, cas), sorted.
func writeTimes(ops []chaosOp) []time.Duration {
	var ts []time.Duration
	for _, op := range ops {
		if op.Out.Result == resOK && op.In.Kind != opRead {
			ts = append(ts, op.Ret)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// gap is a stretch of time without a successful write.
type gap struct{ From, To time.Duration }

func (g gap) Len() time.Duration { return g.To - g.From }

// gapOwnerSlack is how far before a fault a write gap may begin and still
// be the fault's: the last write before the fault returned a moment
// before it.
const gapOwnerSlack = time.Second

// gaps lists the stretches between successive write times ts (sorted),
// the last one closed by end.
func gaps(ts []time.Duration, end time.Duration) []gap {
	var out []gap
	for i := 1; i <= len(ts); i++ {
		to := end
		if i < len(ts) {
			to = ts[i]
		}
		out = append(out, gap{ts[i-1], to})
	}
	return out
}

// gapReport is the longest write gap before the first fault and in each
// round (a gap belongs to the round that began last before it, with
// gapOwnerSlack), and per fault kind the worst.
type gapReport struct {
	baseline time.Duration
	perRound []gap
	perKind  map[faultKind]time.Duration
}

func writeGaps(ops []chaosOp, rounds []round, workStart, end time.Duration) gapReport {
	ts := []time.Duration{workStart}
	for _, t := range writeTimes(ops) {
		if t >= workStart {
			ts = append(ts, t)
		}
	}
	g := gapReport{perRound: make([]gap, len(rounds)), perKind: map[faultKind]time.Duration{}}
	for _, gp := range gaps(ts, end) {
		owner := -1
		for i, r := range rounds {
			if r.Start <= gp.From+gapOwnerSlack {
				owner = i
			}
		}
		switch {
		case owner < 0:
			g.baseline = max(g.baseline, gp.Len())
		case gp.Len() > g.perRound[owner].Len():
			g.perRound[owner] = gp
		}
	}
	for i, r := range rounds {
		g.perKind[r.Kind] = max(g.perKind[r.Kind], g.perRound[i].Len())
	}
	return g
}

// summary is the figures of a run, as the chaos report prints them.
func summary(rounds []round, counts map[regOpKind]*opCounts, verdict string, gaps gapReport, converge string) string {
	var b strings.Builder
	total := opCounts{}
	for _, c := range counts {
		total.ok += c.ok
		total.failed += c.failed
		total.unknown += c.unknown
	}
	fmt.Fprintf(&b, "rounds:            %d\n", len(rounds))
	fmt.Fprintf(&b, "operations:        %s\n", total)
	for _, k := range []regOpKind{opRead, opWrite, opCAS} {
		if c := counts[k]; c != nil {
			fmt.Fprintf(&b, "  %-6s           %s\n", k.String()+":", c)
		}
	}
	fmt.Fprintf(&b, "linearizable:      %s\n", verdict)
	fmt.Fprintf(&b, "longest write gap: %.1fs before any fault (baseline)\n", gaps.baseline.Seconds())
	for _, k := range faultKinds {
		if d, ok := gaps.perKind[k]; ok {
			goal := ""
			if singleNodeFault(k) {
				goal = fmt.Sprintf(" (goal <= %s%s)", writeGapGoal, map[bool]string{true: ": MISSED", false: ""}[d > writeGapGoal])
			}
			fmt.Fprintf(&b, "  %-16s %.1fs%s\n", string(k)+":", d.Seconds(), goal)
		}
	}
	fmt.Fprintf(&b, "converged after:   %s\n", converge)
	return b.String()
}

// roundLines lists the rounds with their write gaps.
func roundLines(rounds []round, gaps gapReport) string {
	var b strings.Builder
	for i, r := range rounds {
		g := gaps.perRound[i]
		fmt.Fprintf(&b, "  %s: fault %.1fs-%.1fs; longest write gap %.1fs (%.1fs-%.1fs)\n",
			r, r.Start.Seconds(), r.Healed.Seconds(), g.Len().Seconds(), g.From.Seconds(), g.To.Seconds())
	}
	return b.String()
}

// reasons tallies why operations did not succeed, most frequent first.
func reasons(ops []chaosOp) string {
	n := map[string]int{}
	for _, op := range ops {
		if op.Out.Result != resOK {
			n[fmt.Sprintf("%s %s: %s", op.In.Kind, op.Out.Result, reasonOf(op.Detail))]++
		}
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return n[keys[i]] > n[keys[j]] || n[keys[i]] == n[keys[j]] && keys[i] < keys[j] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %5d  %s\n", n[k], k)
	}
	return b.String()
}

// reasonOf shortens an outcome's detail to what it has in common with
// others: a status and its message, or the last part of an error.
func reasonOf(detail string) string {
	if status, msg, ok := strings.Cut(detail, " "); ok && len(status) == 3 && status[0] >= '1' && status[0] <= '5' {
		return status + " " + truncate(msg, 100)
	}
	if i := strings.LastIndex(detail, ": "); i >= 0 {
		return detail[i+2:]
	}
	return detail
}
