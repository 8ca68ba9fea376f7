package consensus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// backupFixture is a store with objects and claims, and a backup of it.
func backupFixture(t *testing.T, objects int) (*applier, []byte) {
	t.Helper()
	a := newApplier(t)
	for i := range objects {
		a.create("default", fmt.Sprintf("p%03d", i), podJSON(t, map[string]string{"app": "x"}, nil, map[string]any{"n": i, "pad": strings.Repeat("x", i%50)}, nil))
	}
	a.must(&Command{Op: OpCreate, Resource: "services", Namespace: "default", Name: "web", Object: podJSON(t, nil, nil, nil, nil),
		UID: "uid-web", Time: testTime, Claims: []string{"service-ip/10.43.0.10", "nodeport/30080"}})
	var buf bytes.Buffer
	info := BackupInfo{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Source: "node-b", ShoalVersion: "v0.test",
		Identity: json.RawMessage(`{"secret":"s3cr3t"}`)}
	if err := WriteBackup(&buf, info, a.s.Snapshot()); err != nil {
		t.Fatal(err)
	}
	return a, buf.Bytes()
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	a, file := backupFixture(t, 200)
	if !bytes.HasPrefix(file, []byte("shoal-snapshot 1\n")) {
		t.Fatalf("file starts with %q, want the header line %q", file[:20], "shoal-snapshot 1\n")
	}
	b, err := ReadBackup(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if b.Info.Source != "node-b" || b.Info.Index != a.s.Index() || string(b.Info.Identity) != `{"secret":"s3cr3t"}` || !b.Info.Created.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("info = %+v, want source node-b, index %d and the identity", b.Info, a.s.Index())
	}
	if b.Objects != 201 || b.Claims != 2 {
		t.Fatalf("read %d objects and %d claims, want 201 and 2", b.Objects, b.Claims)
	}
	if b.Store.Index() != a.s.Index() {
		t.Fatalf("store index %d, want %d", b.Store.Index(), a.s.Index())
	}
	for _, key := range [][3]string{{"pods", "default", "p000"}, {"pods", "default", "p199"}, {"services", "default", "web"}} {
		want, _ := a.s.Get(key[0], key[1], key[2])
		got, err := b.Store.Get(key[0], key[1], key[2])
		if err != nil {
			t.Fatalf("%v: %v", key, err)
		}
		if got.ResourceVersion != want.ResourceVersion || got.UID != want.UID || !bytes.Equal(got.Raw, want.Raw) {
			t.Fatalf("%v: restored %+v, want %+v", key, got, want)
		}
	}
	if owner, ok := b.Store.ClaimOwner("service-ip/10.43.0.10"); !ok || owner != "services/default/web" {
		t.Fatalf("claim service-ip/10.43.0.10 held by %q (%v), want services/default/web", owner, ok)
	}
}

// Every way a file can be damaged gives ErrBadBackup with a message that
// says what is wrong, and nothing is decoded.
func TestSnapshotFileDefects(t *testing.T) {
	_, file := backupFixture(t, 300)
	check := func(t *testing.T, data []byte, want string) {
		t.Helper()
		b, err := ReadBackup(bytes.NewReader(data))
		if err == nil {
			t.Fatalf("read a damaged file (%d bytes) without error: %d objects", len(data), b.Objects)
		}
		if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q, want ErrBadBackup saying %q", err, want)
		}
	}
	t.Run("empty", func(t *testing.T) { check(t, nil, "the file is empty") })
	t.Run("not a snapshot", func(t *testing.T) {
		check(t, []byte("apiVersion: v1\nkind: Pod\n"), `not a shoal snapshot file (it starts with "apiVersion: v1")`)
	})
	t.Run("newer format", func(t *testing.T) {
		check(t, append([]byte("shoal-snapshot 2\n"), file[len("shoal-snapshot 1\n"):]...), "snapshot file format 2; this shoal reads format 1")
	})
	t.Run("truncated", func(t *testing.T) {
		// Every cut after the header: inside a frame, between frames,
		// in the checksum.
		for n := len("shoal-snapshot 1\n"); n < len(file); n++ {
			b, err := ReadBackup(bytes.NewReader(file[:n]))
			if err == nil {
				t.Fatalf("file cut to %d of %d bytes read without error: %d objects", n, len(file), b.Objects)
			}
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), "truncated: the file ends after") {
				t.Fatalf("cut to %d of %d bytes: error %q, want a truncation", n, len(file), err)
			}
		}
	})
	t.Run("flipped byte", func(t *testing.T) {
		// Any changed byte after the header is caught: by the checksum,
		// or earlier by the framing it breaks.
		for i := len("shoal-snapshot 1\n"); i < len(file); i += 7 {
			bad := bytes.Clone(file)
			bad[i] ^= 0x10
			b, err := ReadBackup(bytes.NewReader(bad))
			if err == nil {
				t.Fatalf("byte %d of %d flipped: read without error: %d objects", i, len(file), b.Objects)
			}
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("byte %d flipped: error %q is not ErrBadBackup", i, err)
			}
		}
		bad := bytes.Clone(file)
		bad[len(file)-40] ^= 1 // in the data, just before the end frame
		check(t, bad, "corrupt: checksum mismatch")
	})
	t.Run("trailing bytes", func(t *testing.T) {
		check(t, append(bytes.Clone(file), "junk"...), "corrupt: 4 unexpected bytes after the checksum")
	})
	t.Run("huge frame", func(t *testing.T) {
		bad := bytes.Clone(file)
		copy(bad[len("shoal-snapshot 1\n"):], []byte{0x7f, 0, 0, 0})
		check(t, bad, "corrupt: frame 1 claims 2130706432 bytes")
	})
}

// A write that fails part way leaves a file that reads as truncated.
func TestSnapshotFileInterruptedWrite(t *testing.T) {
	a, full := backupFixture(t, 100)
	w := &failingWriter{limit: len(full) / 2}
	err := WriteBackup(w, BackupInfo{Source: "x"}, a.s.Snapshot())
	if err == nil {
		t.Fatal("WriteBackup to a failing writer: no error")
	}
	_, err = ReadBackup(bytes.NewReader(w.buf.Bytes()))
	if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("reading an interrupted write: %v, want a truncation", err)
	}
}

type failingWriter struct {
	buf   bytes.Buffer
	limit int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.limit {
		n := f.limit - f.buf.Len()
		f.buf.Write(p[:n])
		return n, errors.New("connection reset")
	}
	return f.buf.Write(p)
}
