package consensus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// Backup file format (`shoal snapshot save`), version 1:
//
//	"shoal-snapshot 1\n"   the header line: what the file is, and its format
//	                       version (`head -1 FILE` tells)
//	frames                 each a 4-byte big-endian length and that many
//	                       bytes, at most maxBackupFrame
//	00 00 00 00            an empty frame: the end of the data
//	32 bytes               SHA-256 of everything above
//
// The frames' bytes, concatenated, are one gzip stream of a JSON line of
// BackupInfo, then the store snapshot as StoreSnapshot.WriteTo writes it.
// Frames let a peer stream a snapshot whose size it does not know in advance
// and still end with a checksum: a file cut short lacks its end frame or
// checksum, and a flipped bit fails the checksum, before anything in it is
// used (ReadBackup checks the whole file first).
const (
	backupMagic   = "shoal-snapshot"
	backupVersion = 1
	// maxBackupFrame bounds a frame, so a corrupt length is caught as such
	// instead of being allocated.
	maxBackupFrame = 1 << 20
	backupFrame    = 64 << 10 // what the writer emits
)

// ErrBadBackup means a backup file is not one, is of a format this binary
// cannot read, is truncated or is corrupt; the error says which.
var ErrBadBackup = errors.New("bad snapshot file")

// BackupInfo describes a backup. The cluster identity is opaque to this
// package: the node encodes and decodes it.
type BackupInfo struct {
	// Created is when the snapshot was taken, in UTC.
	Created time.Time `json:"created"`
	// Source is the node that wrote it.
	Source string `json:"source"`
	// Index is the raft index the store reflected.
	Index uint64 `json:"index"`
	// ShoalVersion is the version of the binary that wrote it.
	ShoalVersion string `json:"shoalVersion,omitempty"`
	// Identity is the cluster identity (CA, key and secret): what makes
	// the file sensitive.
	Identity json.RawMessage `json:"identity"`
}

// WriteBackup writes a backup of snap, described by info (whose Index is
// set from snap), to w. A failure part way leaves w without its end frame
// and checksum, which ReadBackup reports as a truncated file.
func WriteBackup(w io.Writer, info BackupInfo, snap *StoreSnapshot) error {
	info.Index = snap.Index()
	h := sha256.New()
	out := io.MultiWriter(w, h)
	if _, err := fmt.Fprintf(out, "%s %d\n", backupMagic, backupVersion); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	fw := bufio.NewWriterSize(&frameWriter{w: out}, backupFrame)
	zw, err := gzip.NewWriterLevel(fw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	line, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode snapshot info: %w", err)
	}
	if _, err := zw.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write snapshot info: %w", err)
	}
	if _, err := snap.WriteTo(zw); err != nil {
		return fmt.Errorf("write store snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := fw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if _, err := out.Write([]byte{0, 0, 0, 0}); err != nil {
		return fmt.Errorf("write snapshot end: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("write snapshot checksum: %w", err)
	}
	return nil
}

// frameWriter turns each Write into one frame.
type frameWriter struct{ w io.Writer }

func (f *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty frame would end the data
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxBackupFrame)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(n))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return written, err
		}
		if _, err := f.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Backup is a verified, decoded backup file.
type Backup struct {
	Info BackupInfo
	// Store holds the backup's objects and claims, at Info.Index.
	Store *Store
	// Objects and Claims count what Store holds.
	Objects, Claims int
}

// ReadBackup checks a whole backup file (header, framing, checksum), and
// only then decodes it into a Store. Any defect is an ErrBadBackup that
// says what is wrong; nothing is decoded from a file that fails the check.
func ReadBackup(r io.ReadSeeker) (*Backup, error) {
	size, err := verifyBackup(r)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read snapshot file: %w", err)
	}
	br := bufio.NewReader(io.LimitReader(r, size))
	if _, err := br.ReadString('\n'); err != nil { // the header, checked
		return nil, fmt.Errorf("read snapshot file: %w", err)
	}
	zr, err := gzip.NewReader(&frameReader{r: br})
	if err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrBadBackup, err)
	}
	data := bufio.NewReaderSize(zr, 64<<10)
	line, err := data.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: info: %v", ErrBadBackup, err)
	}
	var info BackupInfo
	if err := json.Unmarshal(line, &info); err != nil {
		return nil, fmt.Errorf("%w: info: %v", ErrBadBackup, err)
	}
	store := NewStore()
	if err := store.Restore(data); err != nil {
		return nil, fmt.Errorf("%w: store: %v", ErrBadBackup, err)
	}
	if store.Index() != info.Index {
		return nil, fmt.Errorf("%w: the store is at index %d, the info says %d", ErrBadBackup, store.Index(), info.Index)
	}
	objects, claims := store.count()
	return &Backup{Info: info, Store: store, Objects: objects, Claims: claims}, nil
}

// verifyBackup reads r to its end and checks the header, the framing and
// the checksum. It returns the size of the checked part (everything but the
// checksum).
func verifyBackup(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	hr := &hashedReader{r: br, h: sha256.New()}
	if err := readHeader(hr); err != nil {
		return 0, err
	}
	frames := 0
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(hr, hdr[:]); err != nil {
			return 0, truncated(hr.n, fmt.Sprintf("after %d frames, without its end frame", frames), err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			break
		}
		if n > maxBackupFrame {
			return 0, fmt.Errorf("%w: corrupt: frame %d claims %d bytes (at most %d)", ErrBadBackup, frames+1, n, maxBackupFrame)
		}
		if _, err := io.CopyN(io.Discard, hr, int64(n)); err != nil {
			return 0, truncated(hr.n, fmt.Sprintf("inside frame %d", frames+1), err)
		}
		frames++
	}
	size := hr.n
	want := hr.h.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(br, got); err != nil {
		return 0, truncated(size, "in its checksum", err)
	}
	if !bytes.Equal(got, want) {
		return 0, fmt.Errorf("%w: corrupt: checksum mismatch (the file says sha256 %x..., its %d bytes hash to %x...)", ErrBadBackup, got[:8], size, want[:8])
	}
	if extra, _ := io.Copy(io.Discard, br); extra > 0 {
		return 0, fmt.Errorf("%w: corrupt: %d unexpected bytes after the checksum", ErrBadBackup, extra)
	}
	return size, nil
}

// readHeader reads and checks the header line, byte by byte so that
// nothing after it is consumed.
func readHeader(r io.Reader) error {
	var line []byte
	var b [1]byte
	for len(line) < 64 {
		if _, err := r.Read(b[:]); err != nil {
			if len(line) == 0 {
				return fmt.Errorf("%w: the file is empty", ErrBadBackup)
			}
			return fmt.Errorf("%w: not a shoal snapshot file (it starts with %q)", ErrBadBackup, line)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	magic, ver, ok := strings.Cut(string(line), " ")
	if !ok || magic != backupMagic {
		return fmt.Errorf("%w: not a shoal snapshot file (it starts with %q)", ErrBadBackup, line)
	}
	v, err := strconv.Atoi(ver)
	if err != nil {
		return fmt.Errorf("%w: not a shoal snapshot file (header %q)", ErrBadBackup, line)
	}
	if v != backupVersion {
		return fmt.Errorf("%w: snapshot file format %d; this shoal reads format %d (a newer shoal wrote it?)", ErrBadBackup, v, backupVersion)
	}
	return nil
}

func truncated(at int64, where string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated: the file ends after %d bytes, %s (an interrupted save?)", ErrBadBackup, at, where)
	}
	return fmt.Errorf("read snapshot file: %w", err)
}

// hashedReader hashes and counts what is read through it.
type hashedReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashedReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// frameReader reads the data of the frames, up to the end frame.
type frameReader struct {
	r    io.Reader
	left uint32
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.done {
			return 0, io.EOF
		}
		var hdr [4]byte
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			return 0, err
		}
		f.left = binary.BigEndian.Uint32(hdr[:])
		if f.left == 0 {
			f.done = true
		}
	}
	if uint32(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= uint32(n)
	if errors.Is(err, io.EOF) && f.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// count says how many objects and claims the store holds.
func (s *Store) count() (objects, claims int) {
	txn := s.view.Load().db.Txn(false)
	for table, n := range map[string]*int{tableObjects: &objects, tableClaims: &claims} {
		it, err := txn.Get(table, "id")
		if err != nil {
			continue
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			*n++
		}
	}
	return objects, claims
}
