package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/consensus"
)

// readConsistency makes the local replica current enough for a read with
// the request's resourceVersion: unset is a quorum read, "0" is any local
// state that holds this node's own acknowledged writes, N waits (briefly)
// until the replica has applied N.
func (s *Server) readConsistency(ctx context.Context, r *http.Request) error {
	rv := r.URL.Query().Get("resourceVersion")
	switch rv {
	case "":
		if err := s.prop.ConsistentRead(ctx); err != nil {
			return storeError(err, schema.GroupResource{}, "")
		}
		return nil
	case "0":
		return s.readYourWrites(ctx)
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return badRequest("invalid resourceVersion %q: must be a decimal number", rv)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.store.WaitIndex(wctx, n); err != nil {
		return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", n, s.store.Index()), 1)
	}
	return nil
}

// readYourWrites waits until the local replica holds every write this
// node acknowledged (a follower answers a write once the leader committed
// it, before its own replica applied it).
func (s *Server) readYourWrites(ctx context.Context) error {
	if err := s.prop.ReadYourWrites(ctx); err != nil {
		return storeError(err, schema.GroupResource{}, "")
	}
	return nil
}

// continueToken is the opaque `continue` of a paged list.
type continueToken struct {
	RV    uint64 `json:"rv"`
	Start string `json:"start"`
}

func encodeContinue(rv uint64, lastKey string) string {
	b, _ := json.Marshal(continueToken{RV: rv, Start: lastKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil {
		return t, badRequest("invalid continue token: %v", err)
	}
	return t, nil
}

// get reads one object of q from the local replica.
func (s *Server) get(q *request) (*consensus.Object, error) {
	obj, err := s.store.Get(q.kind.StoreResource(), q.namespace, q.name)
	if err != nil {
		return nil, storeError(err, q.gr(), q.name)
	}
	if obj, err = fromStore(q.kind, obj); err != nil {
		return nil, internalError(err)
	}
	return obj, nil
}

// getForWrite reads the object a write builds on. The local replica may lag
// the leader: it first catches up to minRV (the client's precondition), and
// a miss is retried after a quorum read, so a client that created an object
// through one peer can update it through another at once.
func (s *Server) getForWrite(ctx context.Context, q *request, name string, minRV uint64) (*consensus.Object, error) {
	if err := s.readYourWrites(ctx); err != nil {
		return nil, err
	}
	if minRV > 0 && s.store.Index() < minRV {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.store.WaitIndex(wctx, minRV)
		cancel()
	}
	obj, err := s.store.Get(q.kind.StoreResource(), q.namespace, name)
	if errors.Is(err, consensus.ErrNotFound) {
		if err := s.prop.ConsistentRead(ctx); err != nil {
			return nil, storeError(err, q.gr(), name)
		}
		obj, err = s.store.Get(q.kind.StoreResource(), q.namespace, name)
	}
	if err != nil {
		return nil, storeError(err, q.gr(), name)
	}
	if obj, err = fromStore(q.kind, obj); err != nil {
		return nil, internalError(err)
	}
	return obj, nil
}
