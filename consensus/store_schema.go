package consensus

import (
	"errors"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// tableObjects is the memdb table that holds every object, keyed by
// resource\x00namespace\x00name. The NUL separators make the radix order
// equal to (resource, namespace, name) tuple order, and let a prefix select
// one resource ("pods\x00") or one namespace ("pods\x00default\x00").
const tableObjects = "objects"

func storeSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableObjects: {
			Name: tableObjects,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: keyIndexer{}},
			},
		},
		tableClaims: claimsTableSchema(),
	}}
}

// dbKey is the memdb id of an object.
func dbKey(resource, namespace, name string) string {
	return resource + "\x00" + namespace + "\x00" + name
}

// dbPrefix selects all objects of resource (namespace "") or of one namespace.
func dbPrefix(resource, namespace string) string {
	if namespace == "" {
		return resource + "\x00"
	}
	return resource + "\x00" + namespace + "\x00"
}

// dbKeyFromObjectKey turns an Object.Key() (resource/namespace/name) into
// its memdb id.
func dbKeyFromObjectKey(key string) (string, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return "", false
	}
	return dbKey(parts[0], parts[1], parts[2]), true
}

// keyIndexer indexes *Object by dbKey; its args are already-encoded keys.
type keyIndexer struct{}

var (
	_ memdb.SingleIndexer = keyIndexer{}
	_ memdb.PrefixIndexer = keyIndexer{}
)

func (keyIndexer) FromObject(raw any) (bool, []byte, error) {
	o, ok := raw.(*Object)
	if !ok {
		return false, nil, errors.New("consensus: not an *Object")
	}
	return true, []byte(dbKey(o.Resource, o.Namespace, o.Name)), nil
}

func (keyIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, errors.New("consensus: key index takes one argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, errors.New("consensus: key index argument must be a string")
	}
	return []byte(s), nil
}

func (k keyIndexer) PrefixFromArgs(args ...any) ([]byte, error) { return k.FromArgs(args...) }
