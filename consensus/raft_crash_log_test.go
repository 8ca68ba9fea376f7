package consensus

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// crashSegmentSize keeps the crash tests' log segments small, so that a
// run rotates, seals and deletes segment files many times.
const crashSegmentSize = 16 << 10

var keyCurrentTerm = []byte("CurrentTerm") // raft's stable-store key

// logCrashChild opens the log as NewRaft does and, until it is killed,
// appends batches, truncates the tail (a follower resolving a conflict),
// compacts the head (what raft does after a snapshot) and sets the term.
//
//	open F L            the log holds F..L
//	append A B G / ack A B G         entries A..B of batch G
//	truncate A B / truncated A       delete A..B, the tail
//	compact B / compacted B          delete the head up to B
//	term T / termed T                CurrentTerm = T
func logCrashChild(dataDir string, seed uint64, logger *slog.Logger) error {
	logs, err := openLogStore(dataDir, crashSegmentSize, newHCLogAdapter(logger, "wal"))
	if err != nil {
		return err
	}
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	term, err := logs.GetUint64(keyCurrentTerm)
	if err != nil {
		return err
	}
	say("open %d %d", first, last)
	rng := rand.New(rand.NewPCG(seed, 1))
	for {
		switch r := rng.IntN(100); {
		case r < 15 && last > first:
			n := 1 + rng.Uint64N(min(last-first, 40)) // keep at least one entry
			from := last - n + 1
			say("truncate %d %d", from, last)
			if err := logs.DeleteRange(from, last); err != nil {
				return fmt.Errorf("truncate %d-%d: %w", from, last, err)
			}
			say("truncated %d", from)
			last = from - 1
		case r < 22 && last-first > 60:
			to := first + rng.Uint64N(last-first-30)
			say("compact %d", to)
			if err := logs.DeleteRange(first, to); err != nil {
				return fmt.Errorf("compact to %d: %w", to, err)
			}
			say("compacted %d", to)
			first = to + 1
		case r < 26:
			term++
			say("term %d", term)
			if err := logs.SetUint64(keyCurrentTerm, term); err != nil {
				return fmt.Errorf("set term %d: %w", term, err)
			}
			say("termed %d", term)
		default:
			n, gen := 1+rng.Uint64N(16), rng.Uint64()
			batch := make([]*raft.Log, n)
			for i := range batch {
				idx := last + 1 + uint64(i)
				batch[i] = &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: logEntryData(idx, gen)}
			}
			say("append %d %d %d", last+1, last+n, gen)
			if err := logs.StoreLogs(batch); err != nil {
				return fmt.Errorf("append %d-%d: %w", last+1, last+n, err)
			}
			say("ack %d %d %d", last+1, last+n, gen)
			if first == 0 {
				first = 1
			}
			last += n
		}
	}
}

// logModel is what the parent knows of the log from the child's lines:
// every index in first..last holds the entry of batch gen[index], and
// pending is the operation the child announced and had not acknowledged.
type logModel struct {
	first, last uint64
	gen         map[uint64]uint64
	term        uint64
	pending     []string // the announcement's fields; nil when none
}

func (m *logModel) apply(t *testing.T, line string) {
	f := strings.Fields(line)
	n := make([]uint64, len(f))
	for i := 1; i < len(f); i++ {
		n[i], _ = strconv.ParseUint(f[i], 10, 64)
	}
	switch f[0] {
	case "open":
		if n[1] != m.first || n[2] != m.last {
			t.Fatalf("the child opened a log holding %d..%d, the parent had checked %d..%d", n[1], n[2], m.first, m.last)
		}
	case "append", "truncate", "compact", "term":
		m.pending = f
	case "ack":
		for i := n[1]; i <= n[2]; i++ {
			m.gen[i] = n[3]
		}
		if m.first == 0 {
			m.first = n[1]
		}
		m.last, m.pending = n[2], nil
	case "truncated":
		for i := n[1]; i <= m.last; i++ {
			delete(m.gen, i)
		}
		m.last, m.pending = n[1]-1, nil
	case "compacted":
		for i := m.first; i <= n[1]; i++ {
			delete(m.gen, i)
		}
		m.first, m.pending = n[1]+1, nil
	case "termed":
		m.term, m.pending = n[1], nil
	default:
		t.Fatalf("unknown line from the child: %q", line)
	}
}

// check reopens the log after a kill and compares it with the model: every
// acknowledged entry that was not truncated or compacted away is there
// with its data, at contiguous indexes. The operation in flight at the kill
// may have happened or not (an append may have kept a prefix of its
// batch). The model then takes what the log holds.
func (m *logModel) check(t *testing.T, logs *wal.WAL, run int, plan killPlan) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("run %d (killed %v, in flight: %v): %s", run, plan, m.pending, fmt.Sprintf(format, args...))
	}
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	term, err := logs.GetUint64(keyCurrentTerm)
	if err != nil {
		fail("read the term: %v", err)
	}
	minFirst, maxFirst, minLast, maxLast := m.first, m.first, m.last, m.last
	wantTerm := []uint64{m.term}
	var pendingGen uint64
	if p := m.pending; p != nil {
		a, _ := strconv.ParseUint(p[1], 10, 64)
		switch p[0] {
		case "append":
			b, _ := strconv.ParseUint(p[2], 10, 64)
			pendingGen, _ = strconv.ParseUint(p[3], 10, 64)
			maxLast = b
			if m.first == 0 {
				maxFirst = a
			}
		case "truncate":
			minLast = a - 1
		case "compact":
			maxFirst = a + 1
		case "term":
			wantTerm = append(wantTerm, a)
		}
	}
	if last == 0 && m.last == 0 {
		first = m.first // empty log, as before
	}
	if first < minFirst || first > maxFirst || last < minLast || last > maxLast {
		fail("the log holds %d..%d, want first in %d..%d and last in %d..%d", first, last, minFirst, maxFirst, minLast, maxLast)
	}
	if term != wantTerm[0] && (len(wantTerm) == 1 || term != wantTerm[1]) {
		fail("CurrentTerm = %d, want one of %v", term, wantTerm)
	}
	for i := first; last > 0 && i <= last; i++ {
		g, ok := m.gen[i]
		if i > m.last {
			g, ok = pendingGen, true
		}
		if !ok {
			fail("the model has no entry %d", i)
		}
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			fail("entry %d (acknowledged in batch %d) is lost: %v", i, g, err)
		}
		if l.Index != i || !bytes.Equal(l.Data, logEntryData(i, g)) {
			fail("entry %d holds index %d data %.30q, want the data of batch %d %.30q", i, l.Index, l.Data, g, logEntryData(i, g))
		}
		m.gen[i] = g
	}
	for i := range m.gen {
		if i < first || i > last {
			delete(m.gen, i)
		}
	}
	m.first, m.last, m.term, m.pending = first, last, term, nil
}

// TestWALSurvivesKills kills a process that writes the raft log (as NewRaft
// opens it) at random instants, most of them during or right after a tail
// truncation, and checks after each kill that the log opens, holds every
// acknowledged entry, and takes appends.
func TestWALSurvivesKills(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dataDir := filepath.Join(t.TempDir(), "raft")
	m := &logModel{gen: map[uint64]uint64{}}
	killedDuring := map[string]int{}
	previous := "none"
	runs := crashRuns()
	for run := range runs {
		plan := killPlan{at: uniformDuration(rng, 60*time.Millisecond)}
		if rng.IntN(10) < 7 {
			plan = killPlan{trigger: "truncate", nth: 1 + rng.IntN(3), delay: uniformDuration(rng, 4*time.Millisecond)}
		}
		c := startCrashChild(t, "log", crashDirEnv+"="+dataDir, fmt.Sprintf("%s=%d", crashSeedEnv, rng.Uint64()))
		c.runUntilKilled(t, fmt.Sprintf("run %d (the previous kill: %s)", run, previous), plan, func(line string) { m.apply(t, line) })
		during := "between operations"
		if m.pending != nil {
			during = m.pending[0]
		}
		killedDuring[during]++
		previous = fmt.Sprintf("%v, during %v", plan, m.pending)

		logs, err := openLogStore(dataDir, crashSegmentSize, newHCLogAdapter(testLogger(t), "wal"))
		if err != nil {
			t.Fatalf("run %d (killed %v during %s): the log does not open: %v", run, plan, during, err)
		}
		m.check(t, logs, run, plan)
		if run == runs-1 { // the next child would append; the last run appends here
			if err := logs.StoreLogs([]*raft.Log{{Index: m.last + 1, Term: m.term, Data: []byte("after")}}); err != nil {
				t.Fatalf("append after the last kill: %v", err)
			}
		}
		if err := logs.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills: %v; the log ends at %d..%d", runs, killedDuring, m.first, m.last)
}

// openCrashChild opens the log (repairing it if need be), says "open",
// and waits to be killed.
func openCrashChild(dataDir string, logger *slog.Logger) error {
	if _, err := openLogStore(dataDir, crashSegmentSize, newHCLogAdapter(logger, "wal")); err != nil {
		return err
	}
	say("open")
	time.Sleep(time.Hour)
	return nil
}

// TestWALRepairSurvivesKills kills a process at random instants while it
// opens, and so repairs, a log whose tail a kill had sealed before the
// metadata recorded it; after each kill the log opens with every entry and
// takes appends.
func TestWALRepairSurvivesKills(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	runs := max(crashRuns()/2, 5)
	midRepair, repaired := 0, 0
	for run := range runs {
		dataDir := filepath.Join(t.TempDir(), "raft")
		last, sealed := sealedTailLog(t, dataDir, 4096)
		before := walState(t, dataDir)
		plan := killPlan{at: uniformDuration(rng, 12*time.Millisecond), fromStart: true}
		c := startCrashChild(t, "open", crashDirEnv+"="+dataDir)
		c.runUntilKilled(t, fmt.Sprintf("run %d", run), plan, func(string) {})
		after := walState(t, dataDir)
		switch tail := after.Segments[len(after.Segments)-1]; {
		case tail.ID != sealed.ID:
			repaired++
		case after.NextSegmentID != before.NextSegmentID:
			midRepair++ // killed between reserving the new segment and switching to it
		}
		checkLogHolds(t, dataDir, 4096, last)
	}
	t.Logf("%d kills: %d after the repair, %d in the middle of it, the rest before it", runs, repaired, midRepair)
}
