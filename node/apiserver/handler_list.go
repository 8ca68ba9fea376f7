package apiserver

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// serveList answers GET on a collection: selectors, limit and continue, as
// a typed list or a Table.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, q *request) error {
	f, err := parseFilter(r, q.kind)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	limit := 0
	if l := qv.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return badRequest("invalid limit %q", l)
		}
		limit = n
	}
	start := ""
	if c := qv.Get("continue"); c != "" {
		tok, err := decodeContinue(c)
		if err != nil {
			return err
		}
		start = tok.Start
	} else if err := s.readConsistency(r.Context(), r); err != nil {
		return err
	}
	items, rv, next, err := s.list(q, f, start, limit)
	if err != nil {
		return err
	}
	cont := ""
	if next != "" {
		cont = encodeContinue(rv, next)
	}
	if wire.WantsTable(r) {
		return s.writeTable(w, r, q.kind, items, rv, cont)
	}
	var b bytes.Buffer
	b.Grow(64 + len(items)*1024)
	b.WriteString(`{"kind":"`)
	b.WriteString(q.kind.Kind)
	b.WriteString(`List","apiVersion":"`)
	b.WriteString(q.kind.GroupVersion().String())
	b.WriteString(`","metadata":{"resourceVersion":"`)
	b.WriteString(strconv.FormatUint(rv, 10))
	b.WriteByte('"')
	if cont != "" {
		b.WriteString(`,"continue":"`)
		b.WriteString(cont)
		b.WriteByte('"')
	}
	b.WriteString(`},"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it.obj.Raw)
	}
	b.WriteString("]}")
	wire.WriteRawJSON(w, http.StatusOK, b.Bytes())
	return nil
}

// list returns the objects of q that pass f, starting after the key start,
// at most limit of them (0: all). next is the key to continue after, or "".
func (s *Server) list(q *request, f *filter, start string, limit int) (items []*storedObject, rv uint64, next string, err error) {
	gr := q.kind.StoreResource()
	// metadata.name=X names one key, unless a namespaced kind is listed
	// across namespaces (X may then exist in several).
	if name, ok := f.singleName(); ok && (q.namespace != "" || !q.kind.Namespaced) {
		rv = s.store.Index()
		obj, err := s.store.Get(gr, q.namespace, name)
		if errors.Is(err, consensus.ErrNotFound) || (err == nil && start != "") {
			return nil, rv, "", nil
		}
		if err == nil {
			obj, err = fromStore(q.kind, obj)
		}
		if err != nil {
			return nil, 0, "", storeError(err, q.gr(), name)
		}
		so := &storedObject{obj: obj}
		if f.matches(so) {
			items = append(items, so)
		}
		return items, rv, "", nil
	}
	// Page through the store until limit matching objects are found, so
	// that selective filters still fill a page.
	batch := limit
	if batch == 0 || batch < 256 {
		batch = 256
	}
	if limit == 0 {
		batch = 0
	}
	first := true
	for {
		objs, idx, more := s.store.List(gr, q.namespace, start, batch)
		if first {
			rv, first = idx, false
		}
		for _, o := range objs {
			start = o.Key()
			if o, err = fromStore(q.kind, o); err != nil {
				return nil, 0, "", internalError(err)
			}
			so := &storedObject{obj: o}
			if !f.matches(so) {
				continue
			}
			items = append(items, so)
			if limit > 0 && len(items) == limit {
				if more || start != objs[len(objs)-1].Key() {
					return items, rv, start, nil
				}
				return items, rv, "", nil
			}
		}
		if !more || batch == 0 {
			return items, rv, "", nil
		}
	}
}
