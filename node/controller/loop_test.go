package controller

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// loopRun is one Loop under test, in a synctest bubble: time moves only
// when every goroutine of the bubble waits, so pass times are exact.
type loopRun struct {
	trig   *Trigger
	cancel context.CancelFunc
	start  time.Time
	passes []time.Duration // when each pass started, since start
}

func (l *loopRun) poke(n int) {
	for range n {
		l.trig.Poke()
	}
}

func TestLoop(t *testing.T) {
	const ms = time.Millisecond
	boom := errors.New("boom")
	for _, tc := range []struct {
		name           string
		resync, settle time.Duration // resync 0: an hour
		// pass runs inside pass n (from 1); drive runs once the loop
		// waits after the first pass. Either may be nil.
		pass    func(n int, l *loopRun) error
		drive   func(l *loopRun)
		want    []time.Duration
		wantLog string // "": nothing logged
	}{
		{name: "first pass at once", want: []time.Duration{0}},
		{name: "a poke makes a pass", drive: func(l *loopRun) { l.poke(1) }, want: []time.Duration{0, 0}},
		{
			// Without a settle a burst between passes may make two: the
			// first poke wakes the loop, the rest land during its pass.
			name:   "a burst between passes makes one pass after the settle",
			settle: 10 * ms,
			drive:  func(l *loopRun) { l.poke(100); time.Sleep(time.Second) },
			want:   []time.Duration{0, 10 * ms},
		},
		{
			name: "a poke during a pass makes another",
			pass: func(n int, l *loopRun) error {
				if n == 1 {
					l.poke(1)
				}
				return nil
			},
			want: []time.Duration{0, 0},
		},
		{
			name: "a burst during a pass makes one more",
			pass: func(n int, l *loopRun) error {
				if n == 1 {
					l.poke(100)
				}
				return nil
			},
			want: []time.Duration{0, 0},
		},
		{
			name:   "resync passes without pokes",
			resync: time.Second,
			drive:  func(*loopRun) { time.Sleep(3500 * ms) },
			want:   []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second},
		},
		{
			name:   "settle delays the pass and it takes the pokes within",
			settle: 100 * ms,
			drive: func(l *loopRun) {
				l.poke(1)
				time.Sleep(50 * ms)
				l.poke(1)
				time.Sleep(time.Second)
			},
			want: []time.Duration{0, 100 * ms},
		},
		{
			name:   "a poke after the settle makes another pass",
			settle: 100 * ms,
			drive: func(l *loopRun) {
				l.poke(1)
				time.Sleep(150 * ms)
				l.poke(1)
				time.Sleep(time.Second)
			},
			want: []time.Duration{0, 100 * ms, 250 * ms},
		},
		{
			name: "an error is logged and the loop goes on",
			pass: func(n int, l *loopRun) error {
				if n == 1 {
					return boom
				}
				return nil
			},
			drive:   func(l *loopRun) { l.poke(1) },
			want:    []time.Duration{0, 0},
			wantLog: `level=WARN msg="test loop" error=boom`,
		},
		{
			name: "an error after cancel is not logged",
			pass: func(n int, l *loopRun) error {
				l.cancel()
				return boom
			},
			want: []time.Duration{0},
		},
		{
			name:  "a closed wake makes one last pass, then is not read",
			drive: func(l *loopRun) { close(l.trig.c) },
			want:  []time.Duration{0, 0},
		},
		{
			// The run ends with a cancel that must not wait the hour out.
			name:   "cancel during the settle returns at once",
			settle: time.Hour,
			drive:  func(l *loopRun) { l.poke(1); time.Sleep(ms) },
			want:   []time.Duration{0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				l := &loopRun{trig: NewTrigger(), cancel: cancel, start: time.Now()}
				var logs bytes.Buffer
				cfg := LoopConfig{
					Name:   "test loop",
					Logger: slog.New(slog.NewTextHandler(&logs, nil)),
					Wake:   l.trig.C(),
					Resync: cmp.Or(tc.resync, time.Hour),
					Settle: tc.settle,
					Reconcile: func(context.Context) error {
						l.passes = append(l.passes, time.Since(l.start))
						if len(l.passes) > 10 {
							l.cancel() // a spinning loop: fail, not hang
						}
						if tc.pass != nil {
							return tc.pass(len(l.passes), l)
						}
						return nil
					},
				}
				done := make(chan error, 1)
				go func() { done <- Loop(ctx, cfg) }()
				synctest.Wait()
				if tc.drive != nil {
					tc.drive(l)
					synctest.Wait()
				}
				stopAt := time.Now()
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Loop returned %v, want nil", err)
				}
				if d := time.Since(stopAt); d != 0 {
					t.Errorf("Loop returned %v after cancel, want at once", d)
				}
				if !slices.Equal(l.passes, tc.want) {
					t.Errorf("passes at %v, want %v", l.passes, tc.want)
				}
				got := strings.TrimSpace(logs.String())
				if tc.wantLog == "" && got != "" || !strings.Contains(got, tc.wantLog) || strings.Count(got, "\n") > 0 {
					t.Errorf("log %q, want one line with %q (none if empty)", got, tc.wantLog)
				}
			})
		})
	}
}

func TestPokeOn(t *testing.T) {
	var fns []func()
	stopped := 0
	watch := func(fn func()) func() {
		fns = append(fns, fn)
		return func() { stopped++ }
	}
	trig := NewTrigger()
	stop := trig.PokeOn(watch, watch, watch)
	if len(fns) != 3 || stopped != 0 {
		t.Fatalf("PokeOn registered %d watches and stopped %d, want 3 and 0", len(fns), stopped)
	}
	for _, fn := range fns {
		fn()
		fn()
	}
	<-trig.C()
	select {
	case <-trig.C():
		t.Fatal("six pokes left two passes pending, want one")
	default:
	}
	stop()
	if stopped != 3 {
		t.Fatalf("stop removed %d handlers, want 3", stopped)
	}
}
