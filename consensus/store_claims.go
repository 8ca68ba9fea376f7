package consensus

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// Claims are unique names that objects hold, such as a Service's cluster IP
// ("service-ip/10.43.0.12") or node port ("nodeport/30080"). The store
// gives each name to at most one object: a command that claims a name held
// by another object fails with ErrClaimed and writes nothing. Because the
// check runs inside the FSM, every replica decides the same, and
// allocators can pick candidates from their local replica and simply retry
// when they lose a race.
//
// An object's claims live as long as the object: removing it (a delete, or
// an update that releases its last finalizer while it is being deleted)
// releases them all.

// tableClaims holds one claim per claimed name.
const tableClaims = "claims"

// claim is one row of tableClaims.
type claim struct {
	// Name is the claimed name.
	Name string
	// Owner is the Object.Key() of the holder.
	Owner string
	// UID is the holder's metadata.uid.
	UID string
}

func claimsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableClaims,
		Indexes: map[string]*memdb.IndexSchema{
			"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
			"owner": {Name: "owner", Indexer: &memdb.StringFieldIndex{Field: "Owner"}},
		},
	}
}

// validateClaims rejects empty names.
func validateClaims(cmd *Command) error {
	for _, list := range [][]string{cmd.Claims, cmd.Releases} {
		for _, c := range list {
			if c == "" {
				return fmt.Errorf("%w: empty claim", ErrInvalid)
			}
		}
	}
	return nil
}

// applyClaims records the claims of cmd for obj, which the command has just
// written: on create, and on update with SetClaims, obj's claims become
// exactly cmd.Claims; on an update without SetClaims, cmd.Claims are added
// and cmd.Releases dropped. A name held by another object fails with
// ErrClaimed.
func applyClaims(txn *memdb.Txn, cmd *Command, obj *Object) error {
	owner := obj.Key()
	if cmd.Op == OpCreate || cmd.SetClaims {
		held, err := claimsOf(txn, owner)
		if err != nil {
			return err
		}
		for _, c := range held {
			if !slices.Contains(cmd.Claims, c.Name) {
				if err := txn.Delete(tableClaims, c); err != nil {
					return fmt.Errorf("consensus: release claim: %w", err)
				}
			}
		}
	} else {
		for _, name := range cmd.Releases {
			if slices.Contains(cmd.Claims, name) {
				continue
			}
			raw, err := txn.First(tableClaims, "id", name)
			if err != nil {
				return fmt.Errorf("consensus: lookup claim: %w", err)
			}
			if c, ok := raw.(*claim); ok && c.Owner == owner {
				if err := txn.Delete(tableClaims, c); err != nil {
					return fmt.Errorf("consensus: release claim: %w", err)
				}
			}
		}
	}
	for _, name := range cmd.Claims {
		raw, err := txn.First(tableClaims, "id", name)
		if err != nil {
			return fmt.Errorf("consensus: lookup claim: %w", err)
		}
		if c, ok := raw.(*claim); ok {
			// Only one object has a given key at a time, so a claim
			// recorded under this key is this object's.
			if c.Owner != owner {
				return fmt.Errorf("%s %q: %q is held by %s: %w", cmd.Resource, cmd.Name, name, c.Owner, ErrClaimed)
			}
			if c.UID == obj.UID {
				continue
			}
		}
		if err := txn.Insert(tableClaims, &claim{Name: name, Owner: owner, UID: obj.UID}); err != nil {
			return fmt.Errorf("consensus: insert claim: %w", err)
		}
	}
	return nil
}

// releaseClaims drops every claim of the object with key owner.
func releaseClaims(txn *memdb.Txn, owner string) error {
	if _, err := txn.DeleteAll(tableClaims, "owner", owner); err != nil {
		return fmt.Errorf("consensus: release claims: %w", err)
	}
	return nil
}

// claimsOf lists the claims held by owner.
func claimsOf(txn *memdb.Txn, owner string) ([]*claim, error) {
	it, err := txn.Get(tableClaims, "owner", owner)
	if err != nil {
		return nil, fmt.Errorf("consensus: list claims: %w", err)
	}
	var out []*claim
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*claim))
	}
	return out, nil
}

// Claims returns the claims whose names start with prefix ("" = all),
// mapped to the key (Object.Key()) of the object that holds each.
func (s *Store) Claims(prefix string) map[string]string {
	txn := s.view.Load().db.Txn(false)
	it, err := txn.Get(tableClaims, "id_prefix", prefix)
	if err != nil {
		return nil // only on a schema bug
	}
	out := make(map[string]string)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*claim)
		out[c.Name] = c.Owner
	}
	return out
}

// ClaimOwner returns the key (Object.Key()) of the object that holds the
// claim name, and whether anything holds it.
func (s *Store) ClaimOwner(name string) (string, bool) {
	raw, err := s.view.Load().db.Txn(false).First(tableClaims, "id", name)
	if err != nil || raw == nil {
		return "", false
	}
	return raw.(*claim).Owner, true
}

// ObjectClaims returns the claims the object resource/namespace/name
// holds, sorted.
func (s *Store) ObjectClaims(resource, namespace, name string) []string {
	cs, err := claimsOf(s.view.Load().db.Txn(false), ObjectKey(resource, namespace, name))
	if err != nil {
		return nil
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	slices.Sort(out)
	return out
}

// snapshotClaim is a claim in a snapshot.
type snapshotClaim struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	UID   string `json:"uid,omitempty"`
}

// writeClaims appends the claims of txn to a snapshot, one line each.
func writeClaims(txn *memdb.Txn, encode func(any) error) error {
	it, err := txn.Get(tableClaims, "id")
	if err != nil {
		return fmt.Errorf("snapshot claims: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*claim)
		line := struct {
			Claim snapshotClaim `json:"claim"`
		}{snapshotClaim{Name: c.Name, Owner: c.Owner, UID: c.UID}}
		if err := encode(&line); err != nil {
			return fmt.Errorf("snapshot claim %q: %w", c.Name, err)
		}
	}
	return nil
}

// restoreClaim inserts a claim read from a snapshot.
func restoreClaim(txn *memdb.Txn, sc *snapshotClaim) error {
	if sc.Name == "" || strings.Count(sc.Owner, "/") != 2 {
		return errors.New("restore: malformed claim")
	}
	if err := txn.Insert(tableClaims, &claim{Name: sc.Name, Owner: sc.Owner, UID: sc.UID}); err != nil {
		return fmt.Errorf("restore claim %q: %w", sc.Name, err)
	}
	return nil
}
