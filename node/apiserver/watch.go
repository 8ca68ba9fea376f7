package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoal-project/shoal/consensus"
	"github.com/shoal-project/shoal/node/apiserver/registry"
	"github.com/shoal-project/shoal/node/apiserver/wire"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 30 * time.Second

// serveWatch streams watch events as concatenated JSON objects. A watch
// without a resourceVersion (or "0") starts with the current objects as
// ADDED events; one with a resourceVersion replays every change after it
// from the store's event ring, or ends with a 410 Expired ERROR event when
// the ring no longer reaches back that far.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, q *request) error {
	f, err := parseFilter(r, q.kind)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	ctx := r.Context()
	if t := qv.Get("timeoutSeconds"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return badRequest("invalid timeoutSeconds %q", t)
		}
		if n > 0 {
			var cancel func()
			ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Second)
			defer cancel()
		}
	}
	bookmarks := qv.Get("allowWatchBookmarks") == "true"
	table := wire.WantsTable(r)
	gr := q.kind.StoreResource()

	sendInitial := qv.Get("sendInitialEvents") == "true"
	if sendInitial {
		if err := validateWatchList(qv.Get("resourceVersionMatch"), bookmarks); err != nil {
			return err
		}
	}

	var initial []*storedObject
	var from uint64
	rv := qv.Get("resourceVersion")
	switch {
	case sendInitial:
		// A watch-list (client-go's reflectors since 1.35): the state at
		// least as new as rv as ADDED events, a bookmark marking their end,
		// then the changes. Without the end mark the client waits for it
		// until the watch times out.
		if err := s.readConsistency(ctx, r); err != nil {
			return err
		}
		initial, from, _, err = s.list(q, f, "", 0)
		if err != nil {
			return err
		}
	case rv == "" || rv == "0":
		if err := s.readConsistency(ctx, r); err != nil {
			return err
		}
		initial, from, _, err = s.list(q, f, "", 0)
		if err != nil {
			return err
		}
	default:
		from, err = strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return badRequest("invalid resourceVersion %q", rv)
		}
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	enc := &eventEncoder{s: s, k: q.kind, table: table, include: qv.Get("includeObject"), w: w}

	watcher, err := s.store.Watch(gr, q.namespace, from)
	if err != nil {
		if errors.Is(err, consensus.ErrGone) {
			enc.writeError(apierrors.NewResourceExpired("too old resource version: " + rv + " (" + strconv.FormatUint(s.store.Index(), 10) + ")"))
		} else {
			enc.writeError(storeError(err, q.gr(), ""))
		}
		flush()
		return nil
	}
	defer watcher.Stop()

	for _, it := range initial {
		if err := enc.write("ADDED", it); err != nil {
			return nil
		}
	}
	if sendInitial {
		if err := enc.writeInitialEventsEnd(from); err != nil {
			return nil
		}
	}
	flush()

	var tick <-chan time.Time
	if bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	last := from
	// unflushed is true while written events wait for a flush: a burst is
	// flushed once, after its last event, even when that event is one the
	// filter drops.
	unflushed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if err := enc.writeBookmark(last); err != nil {
				return nil
			}
			flush()
		case ev, ok := <-watcher.Events():
			if !ok {
				if err := watcher.Err(); err != nil {
					enc.writeError(apierrors.NewResourceExpired(err.Error()))
					flush()
				}
				return nil
			}
			last = ev.Object.ResourceVersion
			if ev, err = fromStoreEvent(q.kind, ev); err != nil {
				enc.writeError(internalError(err))
				flush()
				return nil
			}
			typ, ok := filterEvent(f, ev)
			if ok {
				obj := ev.Object
				if typ == "DELETED" && ev.Type == consensus.Modified {
					// The object left the selector: like kube-apiserver, send its
					// last state the watcher could see, at the change's version.
					if obj, err = restamp(q.kind, ev.Prev, ev.Object.ResourceVersion); err != nil {
						enc.writeError(internalError(err))
						flush()
						return nil
					}
				}
				if err := enc.write(typ, &storedObject{obj: obj}); err != nil {
					return nil
				}
				unflushed = true
			}
			if unflushed && watcher.Pending() == 0 {
				flush()
				unflushed = false
			}
		}
	}
}

// filterEvent turns a store event into what a filtered watcher sees: an
// object that starts to match is ADDED, one that stops matching DELETED.
func filterEvent(f *filter, ev consensus.Event) (string, bool) {
	now := f.matches(&storedObject{obj: ev.Object})
	switch ev.Type {
	case consensus.Added:
		return "ADDED", now
	case consensus.Deleted:
		return "DELETED", now
	}
	before := ev.Prev != nil && f.matches(&storedObject{obj: ev.Prev})
	switch {
	case now && before:
		return "MODIFIED", true
	case now:
		return "ADDED", true
	case before:
		return "DELETED", true
	}
	return "", false
}

// restamp returns o with resourceVersion rv.
func restamp(k *registry.Kind, o *consensus.Object, rv uint64) (*consensus.Object, error) {
	typed, err := decodeStored(k, o.Raw)
	if err != nil {
		return nil, err
	}
	objectMeta(typed).ResourceVersion = strconv.FormatUint(rv, 10)
	raw, err := encodeObject(k, typed)
	if err != nil {
		return nil, err
	}
	out := *o
	out.ResourceVersion, out.Raw = rv, raw
	return &out, nil
}

// eventEncoder writes {"type":...,"object":...} lines.
type eventEncoder struct {
	s       *Server
	k       *registry.Kind
	table   bool
	include string // a Table row's includeObject
	w       http.ResponseWriter
	buf     bytes.Buffer
}

func (e *eventEncoder) write(typ string, so *storedObject) error {
	raw := so.obj.Raw
	if e.table {
		t, err := e.s.buildTable(e.k, []*storedObject{so}, e.include)
		if err != nil {
			return err
		}
		t.ColumnDefinitions = nil
		raw, err = json.Marshal(t)
		if err != nil {
			return err
		}
	}
	return e.writeRaw(typ, raw)
}

func (e *eventEncoder) writeRaw(typ string, raw []byte) error {
	e.buf.Reset()
	e.buf.WriteString(`{"type":"`)
	e.buf.WriteString(typ)
	e.buf.WriteString(`","object":`)
	e.buf.Write(raw)
	e.buf.WriteString("}\n")
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

func (e *eventEncoder) writeBookmark(rv uint64) error {
	return e.writeBookmarkMeta(map[string]any{"resourceVersion": strconv.FormatUint(rv, 10)})
}

// writeInitialEventsEnd is the bookmark that ends a watch-list's initial
// events, annotated as kube-apiserver does.
func (e *eventEncoder) writeInitialEventsEnd(rv uint64) error {
	return e.writeBookmarkMeta(map[string]any{
		"resourceVersion": strconv.FormatUint(rv, 10),
		"annotations":     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
	})
}

func (e *eventEncoder) writeBookmarkMeta(md map[string]any) error {
	b, _ := json.Marshal(map[string]any{
		"kind": e.k.Kind, "apiVersion": e.k.GroupVersion().String(),
		"metadata": md,
	})
	return e.writeRaw("BOOKMARK", b)
}

// validateWatchList refuses what kube-apiserver refuses with
// sendInitialEvents=true.
func validateWatchList(rvMatch string, bookmarks bool) error {
	var errs field.ErrorList
	if rvMatch != string(metav1.ResourceVersionMatchNotOlderThan) {
		errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
	}
	if !bookmarks {
		errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
	}
	if len(errs) == 0 {
		return nil
	}
	return invalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
}

func (e *eventEncoder) writeError(err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	b, _ := json.Marshal(&status)
	e.writeRaw("ERROR", b)
}
