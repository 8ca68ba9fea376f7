package containerd

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"
)

// Container logs are in the CRI format, one record a line:
//
//	2006-01-02T15:04:05.000000000Z stdout F a whole line
//	2006-01-02T15:04:05.000000000Z stderr P the first part of a long line
//
// F ends a line, P is a part of a longer one. The file rotates to "<log>.1"
// when it grows past its limit; one rotated file is kept.
const (
	criTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
	// maxLine is the longest record; longer lines are split into P parts.
	maxLine = 16 << 10
)

// logFile is a container's log, written by its stdout and stderr streams.
type logFile struct {
	mu      sync.Mutex
	path    string
	max     int64
	f       *os.File
	size    int64
	closed  bool
	streams []*streamWriter
}

// openLogFile opens (appends to) the log at path.
func openLogFile(path string, max int64) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("container log: %w", err)
	}
	return &logFile{path: path, max: max, f: f, size: st.Size()}, nil
}

// record writes one CRI record, rotating first when it would not fit.
func (l *logFile) record(stream string, full bool, line []byte) {
	tag := "P"
	if full {
		tag = "F"
	}
	rec := make([]byte, 0, len(line)+64)
	rec = time.Now().UTC().AppendFormat(rec, criTimeFormat)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ')
	rec = append(rec, tag...)
	rec = append(rec, ' ')
	rec = append(rec, line...)
	rec = append(rec, '\n')

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.size > 0 && l.size+int64(len(rec)) > l.max {
		l.rotate()
	}
	n, _ := l.f.Write(rec)
	l.size += int64(n)
}

// rotate moves the log to .1 and starts an empty one; on failure it keeps
// writing to the old file.
func (l *logFile) rotate() {
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return
	}
	l.f.Close()
	l.f, l.size = f, 0
}

// Close records the streams' unterminated last lines and closes the
// file; later records are dropped.
func (l *logFile) Close() error {
	l.mu.Lock()
	streams := l.streams
	l.mu.Unlock()
	for _, s := range streams {
		s.flush()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.f.Close()
}

// stream returns the writer for one stream ("stdout" or "stderr").
func (l *logFile) stream(name string) *streamWriter {
	w := &streamWriter{log: l, name: name}
	l.mu.Lock()
	l.streams = append(l.streams, w)
	l.mu.Unlock()
	return w
}

// streamWriter splits one stream into lines.
type streamWriter struct {
	mu   sync.Mutex
	log  *logFile
	name string
	buf  []byte
}

// Write records every complete line and keeps the rest for later.
func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSuffix(w.buf[:i], []byte("\r"))
		for len(line) > maxLine {
			w.log.record(w.name, false, line[:maxLine])
			line = line[maxLine:]
		}
		w.log.record(w.name, true, line)
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) >= maxLine {
		w.log.record(w.name, false, w.buf[:maxLine])
		w.buf = w.buf[maxLine:]
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a large buffer go
	}
	return len(p), nil
}

// flush records an unterminated last line as a full one.
func (w *streamWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.log.record(w.name, true, w.buf)
		w.buf = nil
	}
}
