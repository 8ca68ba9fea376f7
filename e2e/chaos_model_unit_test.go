package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestChaosRegisterModel checks the chaos suite's model on small histories
// whose verdict is known, so a model that accepts everything (or nothing)
// cannot pass the chaos runs unnoticed. Times are arbitrary units; an
// unknown outcome returns at the end of the history (100).
func TestChaosRegisterModel(t *testing.T) {
	const end = 100
	op := func(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
		if out.Result == resUnknown {
			ret = end
		}
		return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
	}
	create := func(v string) regInput { return regInput{Kind: opCreate, Key: "r", Value: v} }
	read := regInput{Kind: opRead, Key: "r"}
	write := func(v string) regInput { return regInput{Kind: opWrite, Key: "r", Value: v} }
	cas := func(rv uint64, v string) regInput { return regInput{Kind: opCAS, Key: "r", Value: v, ExpectRV: rv} }
	ok := func(v string, rv uint64) regOutput { return regOutput{Result: resOK, Value: v, RV: rv} }
	conflict := regOutput{Result: resConflict}
	unknown := regOutput{Result: resUnknown}
	notFound := regOutput{Result: resNotFound}

	cases := []struct {
		name         string
		history      []porcupine.Operation
		linearizable bool
	}{
		{"sequential create, write, read, cas", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), ok("b", 7)),
			op(1, 4, 5, read, ok("b", 7)),
			op(1, 6, 7, cas(7, "c"), ok("c", 9)),
			op(0, 8, 9, cas(7, "d"), conflict),
			op(0, 10, 11, read, ok("c", 9)),
		}, true},
		{"concurrent writes, reads in either order", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 10, write("b"), ok("b", 8)),
			op(1, 3, 9, write("c"), ok("c", 7)),
			op(2, 4, 5, read, ok("c", 7)),
			op(2, 11, 12, read, ok("b", 8)),
		}, true},
		{"a read misses a write that had returned (stale read)", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), ok("b", 7)),
			op(1, 4, 5, read, ok("a", 5)),
		}, false},
		{"a cas succeeds on a resourceVersion already overwritten", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), ok("b", 7)),
			op(1, 4, 5, cas(5, "c"), ok("c", 9)),
		}, false},
		{"a cas gets 409 although nothing changed the register", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(1, 2, 3, cas(5, "c"), conflict),
		}, false},
		{"two cas on one resourceVersion both succeed", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 6, cas(5, "b"), ok("b", 7)),
			op(1, 3, 7, cas(5, "c"), ok("c", 8)),
		}, false},
		{"resourceVersion goes backwards", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), ok("b", 9)),
			op(0, 4, 5, write("c"), ok("c", 8)),
		}, false},
		{"the register vanishes after its create returned", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(1, 2, 3, read, notFound),
		}, false},
		{"a write of unknown outcome shows up later, rv learnt from the read", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), unknown),
			op(1, 4, 5, read, ok("b", 12)),
			op(1, 6, 7, cas(12, "c"), ok("c", 13)),
		}, true},
		{"a write of unknown outcome never shows up", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), unknown),
			op(1, 4, 5, read, ok("a", 5)),
			op(1, 6, 7, cas(5, "c"), ok("c", 8)),
			op(1, 9, 10, read, ok("c", 8)),
		}, true},
		{"a read sees a value nobody wrote", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), unknown),
			op(1, 4, 5, read, ok("x", 6)),
		}, false},
		{"an unknown write reappears after a later acknowledged write", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), unknown),
			op(1, 4, 5, write("c"), ok("c", 9)),
			op(1, 6, 7, read, ok("b", 8)), // b's rv 8 < 9: b came before c
		}, false},
		{"a cas of unknown outcome on a stale resourceVersion cannot take effect", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), ok("b", 7)),
			op(1, 4, 5, cas(5, "c"), unknown),
			op(1, 6, 7, read, ok("c", 9)),
		}, false},
		{"a 409 on the merge patch leaves the register as it was", []porcupine.Operation{
			op(0, 0, 1, create("a"), ok("a", 5)),
			op(0, 2, 3, write("b"), conflict),
			op(1, 4, 5, read, ok("a", 5)),
		}, true},
	}
	model := registerModel()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(model, c.history); got != c.linearizable {
				t.Fatalf("linearizable: expected %v, seen %v", c.linearizable, got)
			}
		})
	}
}

// TestChaosWriteGaps checks the write-gap figures on made-up write times:
// each gap goes to the round that began last before it (give or take
// gapOwnerSlack), the ones before any fault to the baseline.
func TestChaosWriteGaps(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	write := func(at float64) chaosOp {
		return chaosOp{In: regInput{Kind: opWrite}, Out: regOutput{Result: resOK}, Ret: s(at)}
	}
	var ops []chaosOp
	for _, at := range []float64{1, 2, 3, 9.5, 10, 11, 11.5, 20} {
		ops = append(ops, write(at))
	}
	ops = append(ops, chaosOp{In: regInput{Kind: opRead}, Out: regOutput{Result: resOK}, Ret: s(15)}) // reads do not count
	rounds := []round{
		{Kind: faultKillLeader, Start: s(3.5), End: s(10.2)}, // owns 3-9.5 (began 0.5s before it)
		{Kind: faultUnplugOne, Start: s(10.2), End: s(12)},   // owns 9.5-10, 10-11 and 11-11.5
		{Kind: faultKillLeader, Start: s(12.2), End: s(25)},  // owns 11.5-20 and 20-25 (the end)
	}
	g := writeGaps(ops, rounds, s(0.5), s(25))
	expect := []time.Duration{s(6.5), s(1), s(8.5)}
	for i := range rounds {
		if got := g.perRound[i].Len(); got != expect[i] {
			t.Errorf("round %d: expected a longest gap of %s, seen %s (%v)", i+1, expect[i], got, g.perRound[i])
		}
	}
	if g.baseline != s(1) {
		t.Errorf("baseline: expected 1s, seen %s", g.baseline)
	}
	if g.perKind[faultKillLeader] != s(8.5) || g.perKind[faultUnplugOne] != s(1) {
		t.Errorf("per kind: expected kill-leader 8.5s and unplug-one 1s, seen %v", g.perKind)
	}
}

// TestChaosCheckWritesVisualization checks that a non-linearizable
// history is reported as such with porcupine's page written, and that
// unknown reads and never-sent operations are left out of the check.
func TestChaosCheckWritesVisualization(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	in := func(k regOpKind, v string) regInput { return regInput{Kind: k, Key: "r", Value: v} }
	ops := []chaosOp{
		{Client: 0, In: in(opCreate, "a"), Out: regOutput{Result: resOK, Value: "a", RV: 5}, Call: ms(0), Ret: ms(1)},
		{Client: 0, In: in(opWrite, "b"), Out: regOutput{Result: resOK, Value: "b", RV: 7}, Call: ms(2), Ret: ms(3)},
		{Client: 1, In: in(opRead, ""), Out: regOutput{Result: resUnknown}, Call: ms(4), Ret: ms(5)},
		{Client: 1, In: in(opWrite, "x"), Out: regOutput{Result: resFailed}, Call: ms(4), Ret: ms(5)},
	}
	rounds := []round{{N: 1, Kind: faultKillLeader, Nodes: []int{0}, Start: ms(1), Healed: ms(4)}}
	html := filepath.Join(t.TempDir(), "history.html")
	if c, err := checkLinearizable(ops, rounds, html, time.Minute); c.Result != porcupine.Ok || err != nil {
		t.Fatalf("linearizable history: expected Ok, seen %s (%v)", c.Result, err)
	}
	if len(porcupineHistory(ops)) != 2 {
		t.Fatalf("porcupine history: expected the 2 operations with an effect, seen %v", porcupineHistory(ops))
	}
	ops = append(ops, chaosOp{Client: 1, In: in(opRead, ""), Out: regOutput{Result: resOK, Value: "a", RV: 5}, Call: ms(6), Ret: ms(7)})
	c, err := checkLinearizable(ops, rounds, html, time.Minute)
	if c.Result != porcupine.Illegal || err != nil {
		t.Fatalf("stale read: expected Illegal, seen %s (%v)", c.Result, err)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "kill-leader") {
		t.Fatalf("visualization %s: expected a page marking the fault, seen %v (%d bytes)", html, err, len(b))
	}
}

// TestChaosWriteOrder checks the cross-register check: a write that began
// after another was acknowledged must have the larger resourceVersion;
// overlapping writes may come in either order.
func TestChaosWriteOrder(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	w := func(key string, call, ret int, rv uint64) chaosOp {
		return chaosOp{In: regInput{Kind: opWrite, Key: key}, Out: regOutput{Result: resOK, RV: rv}, Call: ms(call), Ret: ms(ret)}
	}
	ok := []chaosOp{w("a", 0, 10, 5), w("b", 2, 8, 4), w("a", 11, 12, 7), w("b", 13, 20, 9)}
	if bad := writeOrder(ok); len(bad) > 0 {
		t.Fatalf("ordered writes: expected no violation, seen %v", bad)
	}
	stale := append(ok, w("probe", 21, 22, 8))
	if bad := writeOrder(stale); len(bad) != 1 {
		t.Fatalf("a write after rv 9 was acknowledged got rv 8: expected 1 violation, seen %v", bad)
	}
}
