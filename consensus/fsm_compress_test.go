package consensus

import (
	"bytes"
	"compress/flate"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func deflate(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestCompressEntry(t *testing.T) {
	big, err := encodeCommand(bigCmd("a"))
	if err != nil {
		t.Fatal(err)
	}
	small, err := encodeCommand(createCmd("ns", "s", nil))
	if err != nil {
		t.Fatal(err)
	}
	// Random-looking bytes do not shrink by an eighth.
	noise := make([]byte, 4096)
	x := uint32(1)
	for i := range noise {
		x = x*1664525 + 1013904223
		noise[i] = byte(x >> 24)
	}
	noise[0] = byte(msgCommand)
	compressed := compressEntry(big)
	tests := []struct {
		name     string
		in       []byte
		wantSame bool
	}{
		{"large and compressible", big, false},
		{"below the threshold", small, true},
		{"incompressible", noise, true},
		{"already compressed", compressed, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := compressEntry(tc.in)
			if same := bytes.Equal(out, tc.in); same != tc.wantSame {
				t.Fatalf("compressEntry kept the entry: %v, want %v (in %d bytes, out %d)", same, tc.wantSame, len(tc.in), len(out))
			}
			if !tc.wantSame {
				if msgType(out[0]) != msgCompressed || len(out) >= len(tc.in)/2 {
					t.Fatalf("compressed entry: type %d, %d bytes from %d", out[0], len(out), len(tc.in))
				}
				if got := inflateEntry(1, out[1:]); !bytes.Equal(got, tc.in) {
					t.Fatal("inflate does not give the entry back")
				}
			}
		})
	}
}

// A compressed entry applies as the entry inside it; a bad one stops the
// replica rather than being skipped.
func TestFSMCompressedEntry(t *testing.T) {
	s := NewStore()
	f := &fsm{store: s, logger: slog.New(slog.DiscardHandler)}
	plain, err := encodeCommand(bigCmd("a"))
	if err != nil {
		t.Fatal(err)
	}
	res := f.Apply(&raft.Log{Index: 3, Data: compressEntry(plain)}).(ApplyResult)
	if res.Err != nil || res.Object.ResourceVersion != 3 || f.compressed.Load() != 1 {
		t.Fatalf("Apply = %+v, compressed count %d", res, f.compressed.Load())
	}
	if o, err := s.Get("configmaps", "ns", "a"); err != nil || !strings.Contains(string(o.Raw), "compressible") {
		t.Fatalf("stored: %v %v", o, err)
	}

	compressedTwice := append([]byte{byte(msgCompressed)}, deflate(t, compressEntry(plain))...)
	for name, data := range map[string][]byte{
		"not deflate":      append([]byte{byte(msgCompressed)}, "plain text, not deflate"...),
		"empty inside":     append([]byte{byte(msgCompressed)}, deflate(t, nil)...),
		"compressed twice": compressedTwice,
		"unknown inside":   append([]byte{byte(msgCompressed)}, deflate(t, []byte{0x33, '{', '}'})...),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f.Apply(&raft.Log{Index: 9, Data: data})
		})
	}
}

// BenchmarkCompressEntry is the leader's cost per large write, and the
// FSM's per replica.
func BenchmarkCompressEntry(b *testing.B) {
	entry, err := encodeCommand(bigCmd("a"))
	if err != nil {
		b.Fatal(err)
	}
	out := compressEntry(entry)
	b.ReportMetric(float64(len(entry)), "bytes-in")
	b.ReportMetric(float64(len(out)), "bytes-out")
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(entry)))
		for range b.N {
			compressEntry(entry)
		}
	})
	b.Run("inflate", func(b *testing.B) {
		b.SetBytes(int64(len(entry)))
		for range b.N {
			inflateEntry(1, out[1:])
		}
	})
}
