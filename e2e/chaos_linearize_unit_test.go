package e2e

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func msOp(client int, in regInput, out regOutput, call, ret int) chaosOp {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return chaosOp{Client: client, In: in, Out: out, Call: ms(call), Ret: ms(ret)}
}

// TestChaosNarrowUnknown checks steps 1 and 2: a write of unknown outcome
// that a read saw returns when that read did; one nobody saw is a phantom.
func TestChaosNarrowUnknown(t *testing.T) {
	ops := porcupineHistory([]chaosOp{
		msOp(0, regInput{Kind: opCreate, Key: "r", Value: "a"}, regOutput{Result: resOK, Value: "a", RV: 1}, 0, 1),
		msOp(1, regInput{Kind: opWrite, Key: "r", Value: "seen"}, regOutput{Result: resUnknown}, 2, 3),
		msOp(2, regInput{Kind: opWrite, Key: "r", Value: "unseen"}, regOutput{Result: resUnknown}, 4, 5),
		msOp(0, regInput{Kind: opRead, Key: "r"}, regOutput{Result: resOK, Value: "seen", RV: 3}, 6, 7),
		msOp(0, regInput{Kind: opRead, Key: "r"}, regOutput{Result: resOK, Value: "seen", RV: 3}, 8, 9),
	})
	kept, phantoms, bounded := narrowUnknown(ops)
	if bounded != 1 || len(phantoms) != 1 || len(kept) != 4 {
		t.Fatalf("expected 4 kept (1 bounded) and 1 phantom, seen %d kept (%d bounded), %d phantoms", len(kept), bounded, len(phantoms))
	}
	if p := phantoms[0].Input.(regInput).Value; p != "unseen" {
		t.Fatalf("phantom: expected the write of %q, seen %q", "unseen", p)
	}
	for _, op := range kept {
		if op.Input.(regInput).Value == "seen" && op.Return != int64(7*time.Millisecond) {
			t.Fatalf("write of %q: expected to return when the first read saw it (7ms), seen %s", "seen", time.Duration(op.Return))
		}
	}
}

// TestChaosSegmentsCarryState checks step 3: a stale read is found even
// when the write it missed ends the segment before it.
func TestChaosSegmentsCarryState(t *testing.T) {
	ops := porcupineHistory([]chaosOp{
		msOp(0, regInput{Kind: opCreate, Key: "r", Value: "a"}, regOutput{Result: resOK, Value: "a", RV: 1}, 0, 1),
		msOp(0, regInput{Kind: opWrite, Key: "r", Value: "b"}, regOutput{Result: resOK, Value: "b", RV: 3}, 2, 3),
		msOp(1, regInput{Kind: opRead, Key: "r"}, regOutput{Result: resOK, Value: "a", RV: 1}, 4, 5),
	})
	if segs := segmentHistory("r", ops, 1); len(segs) != 3 || segs[2].init != (regState{Exists: true, Value: "b", RV: 3, RVKnown: true}) {
		t.Fatalf("segments: expected 3, the last starting from \"b\"@3, seen %+v", segs)
	}
	c := checkRegisters(ops, 1, time.Now().Add(time.Minute))
	if c.Result != porcupine.Illegal || c.Segments != 3 {
		t.Fatalf("stale read after a cut: expected Illegal in 3 segments, seen %s in %d", c.Result, c.Segments)
	}
}

// TestChaosPhantomExplainsConflict checks the rerun: a 409 that only a
// write of unknown outcome (never read) explains is linearizable, and
// reported as resting on it.
func TestChaosPhantomExplainsConflict(t *testing.T) {
	ops := porcupineHistory([]chaosOp{
		msOp(0, regInput{Kind: opCreate, Key: "r", Value: "a"}, regOutput{Result: resOK, Value: "a", RV: 1}, 0, 1),
		msOp(0, regInput{Kind: opRead, Key: "r"}, regOutput{Result: resOK, Value: "a", RV: 1}, 2, 3),
		msOp(1, regInput{Kind: opWrite, Key: "r", Value: "x"}, regOutput{Result: resUnknown}, 4, 5),
		msOp(0, regInput{Kind: opCAS, Key: "r", Value: "c", ExpectRV: 1}, regOutput{Result: resConflict}, 6, 7),
		msOp(0, regInput{Kind: opWrite, Key: "r", Value: "y"}, regOutput{Result: resOK, Value: "y", RV: 9}, 8, 9),
		msOp(0, regInput{Kind: opRead, Key: "r"}, regOutput{Result: resOK, Value: "y", RV: 9}, 10, 11),
	})
	c := checkRegisters(ops, 1, time.Now().Add(time.Minute))
	if c.Result != porcupine.Ok || c.PhantomSegments != 1 || c.Phantoms != 1 {
		t.Fatalf("409 explained by an unseen write: expected Ok with 1 phantom in 1 segment, seen %s (%s)", c.Result, c)
	}
	// Without the unknown write, the same 409 is a lie.
	c = checkRegisters(append(ops[:2:2], ops[3:]...), 1, time.Now().Add(time.Minute))
	if c.Result != porcupine.Illegal {
		t.Fatalf("409 with no write to explain it: expected Illegal, seen %s", c.Result)
	}
}

// TestChaosCheckScales checks a history the size of a 200-round run's
// per-register share, once as generated (linearizable) and once with one
// stale read slipped into its middle.
func TestChaosCheckScales(t *testing.T) {
	ops := syntheticHistory(7, 10, 15000, chaosKeys)
	hist := porcupineHistory(ops)
	start := time.Now()
	c := checkRegisters(hist, segmentMinOps, time.Now().Add(2*time.Minute))
	if c.Result != porcupine.Ok || c.Segments < len(chaosKeys)*10 {
		t.Fatalf("%d operations: expected Ok in at least %d segments, seen %s (%s)", len(hist), len(chaosKeys)*10, c.Result, c)
	}
	t.Logf("%d operations: %s in %s (%s)", len(hist), c.Result, time.Since(start).Round(time.Millisecond), c)

	// A read in the middle returns the register's first value again.
	stale := append([]porcupine.Operation(nil), hist...)
	for i := len(stale) / 2; i < len(stale); i++ {
		in, out := stale[i].Input.(regInput), stale[i].Output.(regOutput)
		if in.Kind == opRead && out.Result == resOK && in.Key == chaosKeys[0] {
			stale[i].Output = regOutput{Result: resOK, Value: "init-" + chaosKeys[0], RV: 1}
			break
		}
	}
	if c := checkRegisters(stale, segmentMinOps, time.Now().Add(2*time.Minute)); c.Result != porcupine.Illegal {
		t.Fatalf("one stale read among %d operations: expected Illegal, seen %s (%s)", len(stale), c.Result, c)
	}
}

// syntheticHistory is what clients of a correct register server would
// record: each client does operations one after the other, each takes
// effect at a random instant between its call and return, and a few
// writes time out (half of them having taken effect).
func syntheticHistory(seed int64, clients, perClient int, keys []string) []chaosOp {
	rng := rand.New(rand.NewSource(seed))
	type pending struct {
		op chaosOp
		at time.Duration
	}
	var all []pending
	for i, k := range keys {
		all = append(all, pending{op: chaosOp{Client: 0, In: regInput{Kind: opCreate, Key: k, Value: "init-" + k}, Call: time.Duration(i), Ret: time.Millisecond}, at: time.Duration(i)})
	}
	for c := 1; c <= clients; c++ {
		t := 2 * time.Millisecond
		for n := range perClient {
			call := t + time.Duration(rng.Intn(10_000))*time.Microsecond
			ret := call + time.Duration(500+rng.Intn(20_000))*time.Microsecond
			in := regInput{Key: keys[rng.Intn(len(keys))], Value: fmt.Sprintf("c%d-%d", c, n)}
			switch p := rng.Float64(); {
			case p < 0.4:
				in.Kind, in.Value = opRead, ""
			case p < 0.7:
				in.Kind = opWrite
			default:
				in.Kind = opCAS
			}
			all = append(all, pending{op: chaosOp{Client: c, In: in, Call: call, Ret: ret}, at: call + time.Duration(rng.Int63n(int64(ret-call)))})
			t = ret
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at < all[j].at })
	type reg struct {
		value string
		rv    uint64
	}
	regs := map[string]*reg{}
	var rv uint64
	lastRV := map[int]map[string]uint64{}
	ops := make([]chaosOp, 0, len(all))
	for _, p := range all {
		op, r := p.op, regs[p.op.In.Key]
		rv++
		switch op.In.Kind {
		case opCreate:
			regs[op.In.Key] = &reg{op.In.Value, rv}
			op.Out = regOutput{Result: resOK, Value: op.In.Value, RV: rv}
		case opRead:
			op.Out = regOutput{Result: resOK, Value: r.value, RV: r.rv}
			if rng.Intn(200) == 0 {
				op.Out = regOutput{Result: resUnknown}
			}
		case opWrite, opCAS:
			if op.In.Kind == opCAS {
				// A client's precondition is the last resourceVersion it saw.
				op.In.ExpectRV = lastRV[op.Client][op.In.Key]
				if op.In.ExpectRV != r.rv {
					op.Out = regOutput{Result: resConflict}
					break
				}
			}
			if rng.Intn(50) == 0 {
				op.Out = regOutput{Result: resUnknown}
				if rng.Intn(2) == 0 {
					break
				}
			} else {
				op.Out = regOutput{Result: resOK, Value: op.In.Value, RV: rv}
			}
			r.value, r.rv = op.In.Value, rv
		}
		if op.Out.Result == resOK {
			if lastRV[op.Client] == nil {
				lastRV[op.Client] = map[string]uint64{}
			}
			lastRV[op.Client][op.In.Key] = op.Out.RV
		}
		ops = append(ops, op)
	}
	return ops
}
