package consensus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
)

// Snapshot format: JSON lines. The first line is a snapshotHeader, then one
// snapshotObject per line in key order, then (since version 2) one
// {"claim":{...}} line per claim. Restore reads versions 1 and 2.
const snapshotVersion = 2

type snapshotHeader struct {
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
}

type snapshotObject struct {
	Resource        string            `json:"resource"`
	Namespace       string            `json:"namespace,omitempty"`
	Name            string            `json:"name"`
	ResourceVersion uint64            `json:"rv"`
	UID             string            `json:"uid,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Raw             json.RawMessage   `json:"raw"`
}

// snapshotLine is any line after the header: an object, or a claim.
type snapshotLine struct {
	snapshotObject
	Claim *snapshotClaim `json:"claim,omitempty"`
}

// StoreSnapshot is an immutable point-in-time copy of the store. Taking it
// is cheap (a memdb snapshot); writing it may run concurrently with Apply.
type StoreSnapshot struct {
	view *storeView
}

// Snapshot returns a point-in-time copy of the store.
func (s *Store) Snapshot() *StoreSnapshot { return &StoreSnapshot{view: s.view.Load()} }

// Index is the store index the snapshot reflects.
func (sn *StoreSnapshot) Index() uint64 { return sn.view.index }

// List returns the objects of resource (namespace "" = all namespaces) in
// the snapshot, sorted by namespace then name: several lists of one
// snapshot see one moment of the store, as lists of the Store need not.
func (sn *StoreSnapshot) List(resource, namespace string) []*Object {
	items, _, _ := sn.view.list(resource, namespace, "", 0)
	return items
}

// WriteTo serialises the snapshot to w.
func (sn *StoreSnapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Version: snapshotVersion, Index: sn.view.index}); err != nil {
		return cw.n, fmt.Errorf("snapshot header: %w", err)
	}
	txn := sn.view.db.Txn(false)
	it, err := txn.Get(tableObjects, "id")
	if err != nil {
		return cw.n, fmt.Errorf("snapshot: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		o := raw.(*Object)
		rec := snapshotObject{
			Resource: o.Resource, Namespace: o.Namespace, Name: o.Name,
			ResourceVersion: o.ResourceVersion, UID: o.UID, Labels: o.Labels, Raw: o.Raw,
		}
		if err := enc.Encode(&rec); err != nil {
			return cw.n, fmt.Errorf("snapshot %s: %w", o.Key(), err)
		}
	}
	if err := writeClaims(txn, enc.Encode); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("snapshot: %w", err)
	}
	return cw.n, nil
}

// Restore replaces the store's contents with a snapshot written by WriteTo.
// It builds a new database, swaps it in, sets Index to the snapshot's index,
// closes every watcher with ErrStoreReset and empties the event ring so that
// watches from before the snapshot's index get ErrGone.
func (s *Store) Restore(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var hdr snapshotHeader
	if err := dec.Decode(&hdr); err != nil {
		return fmt.Errorf("restore header: %w", err)
	}
	if hdr.Version != 1 && hdr.Version != snapshotVersion {
		return fmt.Errorf("restore: unsupported snapshot version %d", hdr.Version)
	}
	db, err := memdb.NewMemDB(storeSchema())
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Lines decode strictly: a field a newer binary added would be lost
	// (an object restored without it), so it fails the restore instead.
	// Snapshot content a newer binary adds comes with a new
	// snapshotVersion, written only once every server reads it.
	dec.DisallowUnknownFields()
	txn := db.Txn(true)
	for {
		var line snapshotLine
		if err := dec.Decode(&line); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			txn.Abort()
			return fmt.Errorf("restore object: %w", err)
		}
		if line.Claim != nil {
			if err := restoreClaim(txn, line.Claim); err != nil {
				txn.Abort()
				return err
			}
			continue
		}
		rec := &line.snapshotObject
		o := &Object{
			Resource: rec.Resource, Namespace: rec.Namespace, Name: rec.Name,
			ResourceVersion: rec.ResourceVersion, UID: rec.UID, Labels: rec.Labels, Raw: []byte(rec.Raw),
		}
		if err := txn.Insert(tableObjects, o); err != nil {
			txn.Abort()
			return fmt.Errorf("restore %s: %w", o.Key(), err)
		}
	}
	txn.Commit()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.db = db
	s.closeWatchersLocked(ErrStoreReset)
	s.ring = newEventRing(s.opts.eventRing, hdr.Index)
	s.view.Store(&storeView{db: db.Snapshot(), index: hdr.Index})
	close(s.idxCh)
	s.idxCh = make(chan struct{})
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
