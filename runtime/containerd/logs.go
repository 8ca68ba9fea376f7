package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// logRecord is one parsed line of a CRI log.
type logRecord struct {
	ts      time.Time
	full    bool
	content []byte
}

// parseRecord parses "<time> <stream> <F|P> <content>".
func parseRecord(line []byte) (logRecord, bool) {
	f := bytes.SplitN(line, []byte{' '}, 4)
	if len(f) < 3 {
		return logRecord{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(f[0]))
	if err != nil {
		return logRecord{}, false
	}
	rec := logRecord{ts: ts, full: string(f[2]) != "P"}
	if len(f) == 4 {
		rec.content = f[3]
	}
	return rec, true
}

// Logs writes the container's log as opts ask. A removed container's log is
// still found while its sandbox exists.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, w io.Writer) error {
	ctx = r.nsctx(ctx)
	path, err := r.logPath(ctx, id)
	if err != nil {
		return err
	}
	return r.logsFromFile(ctx, path, id, opts, w)
}

// logsFromFile writes the log at path (and its rotated predecessor).
func (r *Runtime) logsFromFile(ctx context.Context, path, id string, opts runtime.LogOptions, w io.Writer) error {
	out := &logOutput{w: w, opts: opts, left: -1}
	if opts.LimitBytes != nil {
		out.left = *opts.LimitBytes
	}

	// What is there now: the rotated file, then the current one.
	var recs []logRecord
	if b, err := os.ReadFile(path + ".1"); err == nil {
		recs = appendRecords(recs, b)
	}
	cur := &tailer{path: path}
	defer cur.close()
	b, err := cur.read()
	if err != nil {
		return err
	}
	recs = appendRecords(recs, b)
	if opts.TailLines != nil {
		recs = tail(recs, *opts.TailLines)
	}
	for _, rec := range recs {
		if err := out.write(rec); err != nil {
			return ignoreLimit(err)
		}
	}
	if !opts.Follow {
		return nil
	}

	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		done := r.exited(ctx, id)
		b, err := cur.read()
		if err != nil {
			return err
		}
		for _, rec := range appendRecords(nil, b) {
			if err := out.write(rec); err != nil {
				return ignoreLimit(err)
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// exited reports whether the container has stopped (or is gone).
func (r *Runtime) exited(ctx context.Context, id string) bool {
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		return errors.Is(err, runtime.ErrNotFound) || ctx.Err() != nil
	}
	return st.State == runtime.StateExited
}

// logPath finds a container's log file.
func (r *Runtime) logPath(ctx context.Context, id string) (string, error) {
	if c, err := r.client.LoadContainer(ctx, id); err == nil {
		if l, err := c.Labels(ctx); err == nil && l[labelLogPath] != "" {
			return l[labelLogPath], nil
		}
	}
	m, _ := filepath.Glob(filepath.Join(sandboxesDir(r.opts.StateDir), "*", "logs", filepath.Base(id)+".log"))
	if len(m) == 0 {
		return "", fmt.Errorf("logs of container %s: %w", id, runtime.ErrNotFound)
	}
	return m[0], nil
}

// appendRecords parses complete lines of b.
func appendRecords(recs []logRecord, b []byte) []logRecord {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		if rec, ok := parseRecord(b[:i]); ok {
			recs = append(recs, rec)
		}
		b = b[i+1:]
	}
	return recs
}

// tail keeps the records of the last n lines.
func tail(recs []logRecord, n int64) []logRecord {
	if n < 0 {
		return recs
	}
	start := len(recs)
	for lines := int64(0); start > 0; start-- {
		if recs[start-1].full {
			if lines == n {
				break
			}
			lines++
		}
	}
	return recs[start:]
}

var errLimit = errors.New("log limit reached")

func ignoreLimit(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// logOutput applies since, timestamps and limitBytes.
type logOutput struct {
	w    io.Writer
	opts runtime.LogOptions
	left int64 // bytes still allowed; -1 = no limit
}

func (o *logOutput) write(rec logRecord) error {
	if !o.opts.Since.IsZero() && rec.ts.Before(o.opts.Since) {
		return nil
	}
	var b []byte
	if o.opts.Timestamps {
		b = rec.ts.AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, rec.content...)
	if rec.full {
		b = append(b, '\n')
	}
	if o.left >= 0 && int64(len(b)) >= o.left {
		_, err := o.w.Write(b[:o.left])
		o.left = 0
		return errors.Join(err, errLimit)
	}
	if o.left >= 0 {
		o.left -= int64(len(b))
	}
	_, err := o.w.Write(b)
	return err
}

// tailer reads a growing log file, following its rotation; it returns
// complete lines only.
type tailer struct {
	path    string
	f       *os.File
	pending []byte
}

// read returns the complete lines appended since the last read.
func (t *tailer) read() ([]byte, error) {
	if t.f == nil {
		f, err := os.Open(t.path)
		if os.IsNotExist(err) {
			return nil, nil // not started yet, or rotating
		}
		if err != nil {
			return nil, fmt.Errorf("container log: %w", err)
		}
		t.f = f
	}
	chunk, err := io.ReadAll(t.f)
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	t.pending = append(t.pending, chunk...)
	// Rotated away? Finish the old file, then start on the new one.
	if cur, err := os.Stat(t.path); err == nil {
		if old, err := t.f.Stat(); err == nil && !os.SameFile(cur, old) {
			rest, _ := io.ReadAll(t.f)
			t.pending = append(t.pending, rest...)
			t.f.Close()
			t.f = nil
		}
	}
	i := bytes.LastIndexByte(t.pending, '\n')
	if i < 0 {
		return nil, nil
	}
	out := t.pending[:i+1]
	t.pending = append([]byte(nil), t.pending[i+1:]...)
	return out, nil
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
	}
}
