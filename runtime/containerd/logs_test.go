package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

func TestLogFileRecordsAndRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	lf, err := openLogFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	out, errw := lf.stream("stdout"), lf.stream("stderr")
	out.Write([]byte("one\ntw"))
	out.Write([]byte("o\r\nthree"))
	errw.Write([]byte("oops\n"))
	lf.Close() // flushes "three"
	b, _ := os.ReadFile(path)
	b1, _ := os.ReadFile(path + ".1")
	all := string(b1) + string(b)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(all), "\n") {
		f := strings.SplitN(line, " ", 4)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil || len(f) != 4 {
			t.Fatalf("bad record %q", line)
		}
		got = append(got, f[1]+" "+f[2]+" "+f[3])
	}
	want := []string{"stdout F one", "stdout F two", "stderr F oops", "stdout F three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records = %q, want %q", got, want)
	}
	if len(b1) == 0 {
		t.Errorf("no rotation at 100 bytes (log is %d bytes)", len(all))
	}
}

func TestLongLinesArePartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	lf, err := openLogFile(path, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", maxLine+10)
	lf.stream("stdout").Write([]byte(long + "\n"))
	lf.Close()
	b, _ := os.ReadFile(path)
	recs := appendRecords(nil, b)
	if len(recs) != 2 || recs[0].full || !recs[1].full || len(recs[0].content)+len(recs[1].content) != len(long) {
		t.Fatalf("got %d records", len(recs))
	}
	// Logs joins them back.
	r := &Runtime{opts: Options{StateDir: t.TempDir()}}
	dir := filepath.Join(sandboxesDir(r.opts.StateDir), "sb", "logs")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "cid.log"), b, 0o600)
	var w bytes.Buffer
	if err := r.logsFromFile(context.Background(), filepath.Join(dir, "cid.log"), "cid", runtime.LogOptions{TailLines: ptr(int64(1))}, &w); err != nil {
		t.Fatal(err)
	}
	if w.String() != long+"\n" {
		t.Errorf("joined line has %d bytes, want %d", w.Len(), len(long)+1)
	}
}

func TestTail(t *testing.T) {
	recs := []logRecord{{full: true, content: []byte("a")}, {content: []byte("b1")}, {full: true, content: []byte("b2")}, {full: true, content: []byte("c")}}
	for n, want := range map[int64]int{0: 0, 1: 1, 2: 3, 3: 4, 10: 4, -1: 4} {
		if got := len(tail(recs, n)); got != want {
			t.Errorf("tail(%d) kept %d records, want %d", n, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
