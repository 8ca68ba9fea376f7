package consensus

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// msgCompressed wraps another entry (its type byte and body),
// deflate-compressed. The leader writes it for large entries once
// FeatureCompressedEntries is on; the FSM inflates it and applies the
// entry inside. Kubernetes objects are JSON with repeated keys: a Node's
// status or a ConfigMap of a few KiB shrinks several times, and so does
// every copy raft keeps and sends of it.
const msgCompressed msgType = 2

const (
	// compressMin is the smallest entry worth compressing. At 1 KiB the
	// deflate of every ordinary write was 8% of the leader's CPU with 64
	// writers of 1 KiB ConfigMaps (issue 13's benchmark), for a few hundred
	// bytes saved each; objects of several KiB (Helm's release Secrets,
	// large ConfigMaps) are where it pays.
	compressMin = 4 << 10
	// maxInflated bounds an inflated entry: no entry is larger than a
	// forwarded command may be, so anything bigger is corrupt.
	maxInflated = maxForwardBody + 1
)

var deflaters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(io.Discard, flate.BestSpeed)
	if err != nil {
		panic(fmt.Sprintf("consensus: deflate writer: %v", err)) // only for a bad level
	}
	return w
}}

// inflaters reuse flate's 32 KiB window across entries: a fresh reader
// per entry cost more than the inflating.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// compressEntry returns data as a msgCompressed entry when that is at
// least an eighth smaller, and data itself otherwise.
func compressEntry(data []byte) []byte {
	if len(data) < compressMin || msgType(data[0]) == msgCompressed {
		return data
	}
	var buf bytes.Buffer
	buf.Grow(len(data) / 2)
	buf.WriteByte(byte(msgCompressed))
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(&buf)
	// Writes to a bytes.Buffer do not fail.
	_, _ = w.Write(data)
	_ = w.Close()
	if buf.Len() > len(data)-len(data)/8 {
		return data
	}
	return buf.Bytes()
}

// inflateEntry returns the entry inside a msgCompressed body. It panics
// when the body does not inflate or holds another compressed entry: the
// log is corrupt, and a corrupt log must not be half-applied.
func inflateEntry(index uint64, body []byte) []byte {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(body), nil); err != nil {
		panic(fmt.Sprintf("consensus: corrupt compressed raft entry at index %d: %v", index, err))
	}
	inner, err := io.ReadAll(io.LimitReader(r, maxInflated))
	switch {
	case err != nil:
		panic(fmt.Sprintf("consensus: corrupt compressed raft entry at index %d: %v", index, err))
	case len(inner) >= maxInflated:
		panic(fmt.Sprintf("consensus: corrupt compressed raft entry at index %d: inflates past %d bytes", index, maxInflated-1))
	case len(inner) == 0:
		panic(fmt.Sprintf("consensus: corrupt compressed raft entry at index %d: empty", index))
	case msgType(inner[0]) == msgCompressed:
		panic(fmt.Sprintf("consensus: corrupt compressed raft entry at index %d: compressed twice", index))
	}
	return inner
}
