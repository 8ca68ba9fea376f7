package consensus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash tests run a child process (this test binary again, see
// TestMain) that writes to the raft state the way the agent does, kill it
// with SIGKILL at random instants, reopen the state and check that nothing
// acknowledged is lost. The child prints one line per step on stdout: an
// announcement before each store operation and an acknowledgement after it
// returned, so the parent knows what was acknowledged when the child died.
//
// SHOAL_CRASH_RUNS sets the number of kills per test (default 100, 10 with
// -short); SHOAL_CRASH_SEED replays a run's seed.

const (
	crashRoleEnv = "SHOAL_CRASH_CHILD" // the child's role: "log", "open" or "snapshot"
	crashDirEnv  = "SHOAL_CRASH_DIR"   // the raft data dir it writes
	crashSeedEnv = "SHOAL_CRASH_SEED"
	crashAddrEnv = "SHOAL_CRASH_ADDR" // raft bind address (snapshot role)
	crashRunEnv  = "SHOAL_CRASH_RUN"  // the run's number, for unique names
)

func TestMain(m *testing.M) {
	if role := os.Getenv(crashRoleEnv); role != "" {
		os.Exit(runCrashChild(role))
	}
	os.Exit(m.Run())
}

// runCrashChild runs a child's role until it is killed; it returns (exit
// status 3) only when a store operation fails.
func runCrashChild(role string) int {
	dir := os.Getenv(crashDirEnv)
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	switch role {
	case "log":
		err = logCrashChild(dir, seed, logger)
	case "open":
		err = openCrashChild(dir, logger)
	case "snapshot":
		err = snapshotCrashChild(dir, os.Getenv(crashAddrEnv), os.Getenv(crashRunEnv), seed, logger)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	fmt.Fprintf(os.Stderr, "crash child (%s) failed: %v\n", role, err)
	return 3
}

// say writes one line to stdout in one write, so that a kill never leaves
// half a line.
func say(format string, args ...any) {
	_, _ = os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n")
}

// crashRuns is how many times a crash test kills its child.
func crashRuns() int {
	if v, err := strconv.Atoi(os.Getenv("SHOAL_CRASH_RUNS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 10
	}
	return 100
}

// crashSeed is the test's random seed, printed so a failure can be
// replayed with SHOAL_CRASH_SEED.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	return seed
}

// killPlan says when the parent kills a child: delay after the nth line
// that starts with trigger, or, when trigger is "", at after the child's
// first line (after the process started, with fromStart).
type killPlan struct {
	trigger   string
	nth       int
	delay     time.Duration
	at        time.Duration
	fromStart bool
}

func (p killPlan) String() string {
	switch {
	case p.fromStart:
		return fmt.Sprintf("%v after the process started", p.at)
	case p.trigger == "":
		return fmt.Sprintf("%v after the first line", p.at)
	}
	return fmt.Sprintf("%v after %q #%d", p.delay, p.trigger, p.nth)
}

// crashChild is one child process.
type crashChild struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, closed at EOF
	stderr bytes.Buffer
}

func startCrashChild(t *testing.T, role string, env ...string) *crashChild {
	t.Helper()
	c := &crashChild{lines: make(chan string, 1024)}
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = append(os.Environ(), append([]string{crashRoleEnv + "=" + role}, env...)...)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c
}

// runUntilKilled feeds the child's lines to apply and kills it as plan
// says; after the kill it feeds the lines the child wrote before it died.
// It fails the test if the child exits by itself (a store operation failed)
// or does not reach the plan's trigger within a minute; what names the run
// in those failures.
func (c *crashChild) runUntilKilled(t *testing.T, what string, plan killPlan, apply func(line string)) {
	t.Helper()
	var timer <-chan time.Time
	if plan.fromStart {
		timer = time.After(plan.at)
	}
	deadline := time.After(time.Minute)
	seen := 0
wait:
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				err := c.cmd.Wait()
				t.Fatalf("%s: the child exited by itself (%v) before the kill (%v):\n%s", what, err, plan, c.stderr.String())
			}
			apply(line)
			if plan.trigger == "" && timer == nil {
				timer = time.After(plan.at)
			}
			if plan.trigger != "" && strings.HasPrefix(line, plan.trigger) {
				if seen++; seen == plan.nth {
					time.Sleep(plan.delay)
					break wait
				}
			}
		case <-timer:
			break wait
		case <-deadline:
			_ = c.cmd.Process.Kill()
			t.Fatalf("%s: the child did not reach the kill (%v) within a minute:\n%s", what, plan, c.stderr.String())
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for line := range c.lines {
		apply(line)
	}
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s: the child ended with %v, not by the kill:\n%s", what, err, c.stderr.String())
	}
}

// uniformDuration is a random duration in [0, max).
func uniformDuration(rng *rand.Rand, max time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(max)))
}
