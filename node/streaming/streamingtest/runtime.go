// Package streamingtest has a scripted runtime for tests of log and exec
// streaming (node/streaming, cli). Only Exec and Logs are implemented; every
// other runtime.Runtime method panics.
package streamingtest

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// Runtime is a runtime.Runtime with scripted Exec and Logs.
//
// Exec of cmd in a known container:
//  1. writes "ran: <cmd joined by spaces>\n" to stdout;
//  2. copies stdin to stdout until EOF (when stdin is attached);
//  3. writes "err: <cmd>\n" to stderr (to stdout with a TTY);
//  4. returns the exit code N when the last word is "exit=N", else 0.
//
// The command "block" instead waits until ctx ends and returns ctx.Err().
//
// Logs writes the container's lines (set with AddContainer and Append),
// honouring TailLines, Timestamps and Follow (until ctx ends or Exit).
type Runtime struct {
	runtime.Runtime // nil: the other methods panic

	mu         sync.Mutex
	containers map[string]*container
	execs      []ExecCall
	// Cancelled receives a value each time a "block" exec ends because its
	// ctx was cancelled.
	Cancelled chan struct{}
}

// ExecCall records one Exec.
type ExecCall struct {
	ID    string
	Cmd   []string
	TTY   bool
	Sizes []runtime.TerminalSize
}

type container struct {
	lines  []string
	times  []time.Time
	exited bool
	notify chan struct{} // closed and replaced on every change
	// followers counts Logs calls with Follow that have started.
	followers int
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns an empty Runtime.
func New() *Runtime {
	return &Runtime{containers: map[string]*container{}, Cancelled: make(chan struct{}, 16)}
}

// AddContainer makes id known, with lines (without newlines) as its log.
func (r *Runtime) AddContainer(id string, lines ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &container{notify: make(chan struct{})}
	r.containers[id] = c
	for _, l := range lines {
		c.lines = append(c.lines, l)
		c.times = append(c.times, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	}
}

// Append adds a log line to id, waking followers.
func (r *Runtime) Append(id, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	c.lines = append(c.lines, line)
	c.times = append(c.times, time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC))
	close(c.notify)
	c.notify = make(chan struct{})
}

// Followers counts the Logs calls with Follow that have started on id:
// tests wait for one before appending, so the line is not taken for an
// old one.
func (r *Runtime) Followers(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.containers[id].followers
}

// Exit marks id exited: followers stop after the last line.
func (r *Runtime) Exit(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	c.exited = true
	close(c.notify)
	c.notify = make(chan struct{})
}

// Execs returns the Exec calls so far.
func (r *Runtime) Execs() []ExecCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ExecCall(nil), r.execs...)
}

// Exec implements runtime.Runtime.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s runtime.ExecStreams) (int, error) {
	r.mu.Lock()
	_, ok := r.containers[id]
	r.execs = append(r.execs, ExecCall{ID: id, Cmd: cmd, TTY: s.TTY})
	call := len(r.execs) - 1
	r.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	sizesDone := make(chan struct{})
	if s.Resize != nil {
		go func() {
			defer close(sizesDone)
			for size := range s.Resize {
				r.mu.Lock()
				r.execs[call].Sizes = append(r.execs[call].Sizes, size)
				r.mu.Unlock()
			}
		}()
	} else {
		close(sizesDone)
	}
	if len(cmd) == 1 && cmd[0] == "block" {
		<-ctx.Done()
		r.Cancelled <- struct{}{}
		return 0, ctx.Err()
	}
	line := strings.Join(cmd, " ")
	if s.Stdout != nil {
		fmt.Fprintf(s.Stdout, "ran: %s\n", line)
		if s.Stdin != nil {
			io.Copy(s.Stdout, s.Stdin)
		}
	}
	errw := s.Stderr
	if s.TTY {
		errw = s.Stdout
	}
	if errw != nil {
		fmt.Fprintf(errw, "err: %s\n", line)
	}
	if s.TTY {
		// Give the client's first resize time to arrive.
		select {
		case <-sizesDone:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if last := cmd[len(cmd)-1]; strings.HasPrefix(last, "exit=") {
		return strconv.Atoi(strings.TrimPrefix(last, "exit="))
	}
	return 0, nil
}

// Logs implements runtime.Runtime.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, w io.Writer) error {
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	next := 0
	if opts.TailLines != nil && int(*opts.TailLines) < len(c.lines) {
		next = len(c.lines) - int(*opts.TailLines)
	}
	if opts.Follow {
		c.followers++
	}
	r.mu.Unlock()
	for {
		r.mu.Lock()
		lines, times, exited, notify := c.lines[next:], c.times[next:], c.exited, c.notify
		next = len(c.lines)
		r.mu.Unlock()
		for i, l := range lines {
			if !opts.Since.IsZero() && times[i].Before(opts.Since) {
				continue
			}
			if opts.Timestamps {
				l = times[i].Format(time.RFC3339Nano) + " " + l
			}
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return err
			}
		}
		if !opts.Follow || exited {
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
