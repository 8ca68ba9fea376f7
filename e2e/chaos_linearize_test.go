package e2e

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Checking a long chaos history. Porcupine's search keeps a bitset of the
// linearized operations per cache entry, so its cost grows with the square
// of a register's history, and its verbose mode (needed for the
// visualization) walks the whole stack at every backtrack: a 200-round run
// (556,000 operations) was still undecided after 80 minutes. Three exact
// steps make it linear:
//
//  1. A write of unknown outcome whose value (every value is unique) some
//     read returned took effect before that read returned: its return is
//     moved there instead of the end of the history. Every linearization
//     of the history keeps that bound, so nothing is lost.
//  2. A write of unknown outcome whose value nobody read (a phantom) is
//     left out. Any linearization without it is one with it (it goes last,
//     having no effect), so a history proven without phantoms is proven
//     with them. The converse fails only for a 409 that a phantom alone
//     explains; a segment found illegal without phantoms is checked again,
//     in pieces, with the phantoms called shortly before each (the rerun).
//  3. A register's history is cut after an operation that overlaps no
//     other and whose outcome is known: every operation before it is
//     linearized before every operation after it, and the register's state
//     after it is known exactly (its value and resourceVersion), so the
//     segments are checked separately, each from that state, in parallel.
//
// The rerun with phantoms lets a phantom take effect in each piece it is
// offered to, where it could take effect once, and only within
// phantomWindow of its call: a segment that passes only that way is
// counted and reported, never silently.

// segmentMinOps is the fewest operations in a segment before it may be
// cut: small enough for porcupine's quadratic cache, large enough that
// its per-call cost does not dominate.
const segmentMinOps = 2000

// regSegment is a stretch of one register's history.
type regSegment struct {
	key      string
	init     regState
	ops      []porcupine.Operation
	from, to int64 // first call, last return
}

// linCheck is what checkLinearizable found.
type linCheck struct {
	Result porcupine.CheckResult
	// Segments, Bounded and Phantoms describe the narrowed history;
	// PhantomSegments counts segments proven only with phantoms offered.
	Segments, Bounded, Phantoms, PhantomSegments int
	// Bad is the first segment found illegal (or left undecided).
	Bad *regSegment
}

func (c linCheck) String() string {
	s := fmt.Sprintf("%d segments; %d writes of unknown outcome bounded by the read that saw them, %d never seen",
		c.Segments, c.Bounded, c.Phantoms)
	if c.PhantomSegments > 0 {
		s += fmt.Sprintf("; %d segments linearizable only if a write of unknown outcome explains a 409 (it may be offered to more than one segment)", c.PhantomSegments)
	}
	return s
}

// narrowUnknown applies steps 1 and 2 to one register's operations: it
// returns them with the unknown writes that were seen bounded and those
// never seen taken out (as phantoms).
func narrowUnknown(ops []porcupine.Operation) (kept, phantoms []porcupine.Operation, bounded int) {
	uses := map[string]int{}
	firstSeen := map[string]int64{}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		if in.Kind != opRead {
			uses[in.Value]++
		} else if out.Result == resOK {
			if t, ok := firstSeen[out.Value]; !ok || op.Return < t {
				firstSeen[out.Value] = op.Return
			}
		}
	}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		if out.Result != resUnknown || in.Kind == opRead || uses[in.Value] != 1 {
			kept = append(kept, op)
			continue
		}
		seen, ok := firstSeen[in.Value]
		switch {
		case !ok:
			phantoms = append(phantoms, op)
		case seen > op.Call && seen < op.Return:
			op.Return = seen
			bounded++
			kept = append(kept, op)
		default:
			// Seen before it was sent: the check will say so.
			kept = append(kept, op)
		}
	}
	return kept, phantoms, bounded
}

// stateAfter is a register's state after op, an operation of known
// outcome: what stepRegister leaves.
func stateAfter(op porcupine.Operation) regState {
	in, out := op.Input.(regInput), op.Output.(regOutput)
	v := in.Value
	if in.Kind == opRead {
		v = out.Value
	}
	return regState{Exists: true, Value: v, RV: out.RV, RVKnown: true}
}

// segmentHistory applies step 3 to one register's operations.
func segmentHistory(key string, ops []porcupine.Operation, minOps int) []regSegment {
	ops = append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	var segs []regSegment
	cur := regSegment{key: key}
	var maxRet int64 = -1 << 62
	for i, op := range ops {
		if len(cur.ops) == 0 {
			cur.from = op.Call
		}
		cur.ops = append(cur.ops, op)
		cur.to = max(cur.to, op.Return)
		isolated := op.Call > maxRet && (i+1 == len(ops) || ops[i+1].Call > op.Return)
		maxRet = max(maxRet, op.Return)
		if isolated && op.Output.(regOutput).Result == resOK && len(cur.ops) >= minOps && i+1 < len(ops) {
			segs = append(segs, cur)
			cur = regSegment{key: key, init: stateAfter(op)}
		}
	}
	if len(cur.ops) > 0 {
		segs = append(segs, cur)
	}
	return segs
}

// checkLinearizable decides whether the history is linearizable within
// limit; when it is found not to be, porcupine's visualization of the
// offending segment (with the faults marked) is written to htmlPath.
func checkLinearizable(ops []chaosOp, rounds []round, htmlPath string, limit time.Duration) (linCheck, error) {
	c := checkRegisters(porcupineHistory(ops), segmentMinOps, time.Now().Add(limit))
	if c.Result != porcupine.Illegal {
		return c, nil
	}
	return c, visualizeSegment(*c.Bad, rounds, htmlPath)
}

// checkRegisters checks every register's history, cut into segments of
// at least minOps operations, by deadline.
func checkRegisters(hist []porcupine.Operation, minOps int, deadline time.Time) linCheck {
	keys, byKey := byRegister(hist)
	var c linCheck
	var segs []regSegment
	phantomsOf := map[string][]porcupine.Operation{}
	for _, k := range keys {
		kept, phantoms, bounded := narrowUnknown(byKey[k])
		c.Bounded += bounded
		c.Phantoms += len(phantoms)
		phantomsOf[k] = phantoms
		segs = append(segs, segmentHistory(k, kept, minOps)...)
	}
	c.Segments = len(segs)

	results := make([]porcupine.CheckResult, len(segs))
	withPhantoms := make([]bool, len(segs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], withPhantoms[i] = checkSegment(segs[i], phantomsOf[segs[i].key], deadline)
			}
		}()
	}
	for i := range segs {
		next <- i
	}
	close(next)
	wg.Wait()

	c.Result = porcupine.Ok
	for i, r := range results {
		if withPhantoms[i] && r == porcupine.Ok {
			c.PhantomSegments++
		}
		if r != porcupine.Ok && (c.Bad == nil || r == porcupine.Illegal && c.Result != porcupine.Illegal) {
			c.Result, c.Bad = r, &segs[i]
		}
	}
	return c
}

// phantomWindow is how long after its call a write of unknown outcome
// is taken to be able to take effect: raft applies or drops a proposal
// within a fault and an election, seconds. Offering a phantom to every
// later operation would make the rerun's search exponential.
const phantomWindow = time.Minute

// checkSegment checks one segment. If it is illegal without phantoms,
// it is cut as finely as it goes and each illegal piece is checked again
// with the phantoms called within phantomWindow before it; it says
// whether phantoms were needed.
func checkSegment(s regSegment, phantoms []porcupine.Operation, deadline time.Time) (porcupine.CheckResult, bool) {
	left := time.Until(deadline)
	if left <= 0 {
		return porcupine.Unknown, false
	}
	res := porcupine.CheckOperationsTimeout(registerModelFrom(s.init), s.ops, left)
	if res != porcupine.Illegal || len(phantoms) == 0 {
		return res, false
	}
	pieces := segmentHistory(s.key, s.ops, 1)
	pieces[0].init = s.init
	for _, p := range pieces {
		if left = time.Until(deadline); left <= 0 {
			return porcupine.Unknown, true
		}
		model := registerModelFrom(p.init)
		if porcupine.CheckOperationsTimeout(model, p.ops, left) == porcupine.Ok {
			continue
		}
		if r := checkPieceWithPhantoms(model, p, phantoms, deadline); r != porcupine.Ok {
			return r, true
		}
	}
	return porcupine.Ok, true
}

// checkPieceWithPhantoms offers a piece its phantoms one at a time (one
// explains a 409; offering dozens at once makes the search exponential),
// then all together (if there are few) for a while. A piece that neither explains is
// reported illegal: a violation, or more than one write of unknown
// outcome needed in one piece of a few operations.
func checkPieceWithPhantoms(model porcupine.Model, p regSegment, phantoms []porcupine.Operation, deadline time.Time) porcupine.CheckResult {
	candidates := offerPhantoms(p, phantoms)[len(p.ops):]
	for _, ph := range candidates {
		left := time.Until(deadline)
		if left <= 0 {
			return porcupine.Unknown
		}
		one := append(append([]porcupine.Operation(nil), p.ops...), ph)
		if porcupine.CheckOperationsTimeout(model, one, left) == porcupine.Ok {
			return porcupine.Ok
		}
	}
	if len(candidates) < 2 || len(candidates) > 16 {
		return porcupine.Illegal
	}
	left := min(time.Until(deadline), 10*time.Second)
	if left <= 0 {
		return porcupine.Unknown
	}
	if porcupine.CheckOperationsTimeout(model, offerPhantoms(p, phantoms), left) == porcupine.Ok {
		return porcupine.Ok
	}
	return porcupine.Illegal
}

// offerPhantoms is the segment's operations and every phantom called
// within phantomWindow before its end, pending until then.
func offerPhantoms(s regSegment, phantoms []porcupine.Operation) []porcupine.Operation {
	out := append([]porcupine.Operation(nil), s.ops...)
	for _, p := range phantoms {
		if p.Call < s.to && p.Call > s.from-int64(phantomWindow) {
			p.Return = s.to + 1
			out = append(out, p)
		}
	}
	return out
}

// visualizeSegment writes porcupine's page for an illegal segment: its
// operations with the faults that overlap it marked.
func visualizeSegment(s regSegment, rounds []round, htmlPath string) error {
	model := registerModelFrom(s.init)
	_, info := porcupine.CheckOperationsVerbose(model, s.ops, 5*time.Minute)
	var notes []porcupine.Annotation
	for _, r := range rounds {
		if int64(r.Healed) < s.from || int64(r.Start) > s.to {
			continue
		}
		notes = append(notes, porcupine.Annotation{
			Tag: "nemesis", Start: int64(r.Start), End: int64(r.Healed),
			Description: fmt.Sprintf("%s %v", r.Kind, r.Nodes), Details: r.String(),
			BackgroundColor: "#f6d5d5",
		})
	}
	info.AddAnnotations(notes)
	return porcupine.VisualizePath(model, info, htmlPath)
}
