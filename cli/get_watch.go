package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// getWatch is `get -w` and `get --watch-only`, as kubectl does them: the
// current objects (unless --watch-only), then one line (or object) per
// change, until the server ends the watch or the user interrupts. The
// table header is printed once; event Tables carry no column definitions,
// so the list's are used for them.
func (cl *clients) getWatch(ctx context.Context, o getOptions, groups []resourceArgs) error {
	if len(groups) != 1 {
		return errors.New("you may only specify a single resource type")
	}
	g := groups[0]
	if len(g.names) > 1 {
		return errors.New("you may only watch a single resource or type of resource at a time")
	}
	w := &watchTarget{cl: cl, mapping: g.mapping, ns: cl.listNamespace(g.mapping, o.AllNamespaces), o: o}
	if len(g.names) == 1 {
		w.name = g.names[0]
	}
	if o.Output == "" || o.Output == "wide" {
		return w.tables(ctx)
	}
	return w.objects(ctx)
}

// watchTarget is what one `get -w` watches.
type watchTarget struct {
	cl      *clients
	mapping *meta.RESTMapping
	ns      string
	name    string // "" for the collection
	o       getOptions
}

// fieldSelector narrows the watch to the named object, if any.
func (w *watchTarget) fieldSelector() string {
	if w.name == "" {
		return w.o.FieldSelector
	}
	return fields.OneTermEqualSelector("metadata.name", w.name).String()
}

// The watch starts at the resourceVersion of what was fetched (the list's,
// or the named object's), so that it brings every change after it and
// nothing before: no event is dropped, and none printed twice. (Starting
// at "0" brings the object as it is now as a first event, which is not
// the one printed if it changed in between.) An object's resourceVersion
// may be older than the server's event history reaches: the watch then
// ends with 410 Gone, and it starts again from a fresh list, printing what
// changed since (a deletion in the gap is not seen).

// maxGone bounds the fresh lists in a row that bring no event before the
// next 410: a server that keeps answering so ends the command.
const maxGone = 3

// isGone says whether err ends a watch whose resourceVersion is too old.
func isGone(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// seenVersions are the resourceVersions of the objects known to the
// user, by namespace/name, so that a fresh list prints only what changed.
type seenVersions map[string]string

// update records o's resourceVersion; changed is true unless o was known
// at that version. An object without metadata counts as changed.
func (s seenVersions) update(o runtime.Object, deleted bool) (changed bool) {
	m, err := meta.Accessor(o)
	if err != nil {
		return true
	}
	key := m.GetNamespace() + "/" + m.GetName()
	if deleted {
		delete(s, key)
		return true
	}
	rv, known := s[key]
	s[key] = m.GetResourceVersion()
	return !known || rv != m.GetResourceVersion()
}

// updateRows records a Table's rows (or a plain object) and returns the
// rows that changed.
func (s seenVersions) updateRows(obj runtime.Object, deleted bool) []metav1.TableRow {
	t, ok := obj.(*metav1.Table)
	if !ok {
		s.update(obj, deleted)
		return nil
	}
	var changed []metav1.TableRow
	for _, row := range t.Rows {
		if row.Object.Object == nil || s.update(row.Object.Object, deleted) {
			changed = append(changed, row)
		}
	}
	return changed
}

func (w *watchTarget) tables(ctx context.Context) error {
	cl := w.cl
	rc, err := cl.restClientFor(w.mapping)
	if err != nil {
		return err
	}
	obj, err := cl.fetchTable(ctx, rc, w.mapping, w.ns, w.name, w.o)
	if err != nil {
		return err
	}
	table, ok := obj.(*metav1.Table)
	if !ok {
		return fmt.Errorf("the server did not answer a Table for %s", resourceString(w.mapping.Resource.GroupResource()))
	}
	columns := table.ColumnDefinitions
	printer := printers.NewTablePrinter(printers.PrintOptions{
		Wide:          w.o.Output == "wide",
		WithNamespace: w.o.AllNamespaces && w.mapping.Scope.Name() == meta.RESTScopeNameNamespace,
		ShowLabels:    w.o.ShowLabels,
		Kind:          w.mapping.GroupVersionKind.GroupKind(),
	})
	tw := printers.GetNewTabWriter(cl.out)
	show := func(obj runtime.Object) error {
		if t, ok := obj.(*metav1.Table); ok && len(t.ColumnDefinitions) == 0 {
			t.ColumnDefinitions = columns
		}
		if err := printer.PrintObj(obj, tw); err != nil {
			return err
		}
		return tw.Flush()
	}
	seen := seenVersions{}
	seen.updateRows(table, false)
	if !w.o.WatchOnly {
		if err := show(table); err != nil {
			return err
		}
	}
	rv := table.ResourceVersion
	for gone := 0; ; {
		events, err := w.watchTables(ctx, rc, rv, seen, show)
		if !isGone(err) {
			return err
		}
		if events > 0 {
			gone = 0
		}
		if gone++; gone > maxGone {
			return err
		}
		if rv, err = w.relistTables(ctx, rc, seen, show); err != nil {
			return err
		}
	}
}

// watchTables prints the watch's events from rv as table rows until it
// ends; events is how many it brought.
func (w *watchTarget) watchTables(ctx context.Context, rc rest.Interface, rv string, seen seenVersions, show func(runtime.Object) error) (events int, err error) {
	req := rc.Get().Resource(w.mapping.Resource.Resource).SetHeader("Accept", tableAccept).
		Param("watch", "true").Param("resourceVersion", rv)
	if w.ns != "" {
		req = req.Namespace(w.ns)
	}
	if w.o.Selector != "" {
		req = req.Param("labelSelector", w.o.Selector)
	}
	if fs := w.fieldSelector(); fs != "" {
		req = req.Param("fieldSelector", fs)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for ; ; events++ {
		var ev struct {
			Type   watch.EventType `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return events, watchEnded(ctx, err)
		}
		if ev.Type == watch.Bookmark {
			continue
		}
		if ev.Type == watch.Error {
			return events, statusError(ev.Object)
		}
		obj, err := decodeTable(ev.Object)
		if err != nil {
			return events, err
		}
		seen.updateRows(obj, ev.Type == watch.Deleted)
		if err := show(obj); err != nil {
			return events, err
		}
	}
}

// relistTables lists the watched objects afresh, prints the rows that
// changed since they were seen and returns the list's resourceVersion.
func (w *watchTarget) relistTables(ctx context.Context, rc rest.Interface, seen seenVersions, show func(runtime.Object) error) (string, error) {
	o := w.o
	o.FieldSelector = w.fieldSelector()
	obj, err := w.cl.fetchTable(ctx, rc, w.mapping, w.ns, "", o)
	if err != nil {
		return "", err
	}
	table, ok := obj.(*metav1.Table)
	if !ok {
		return "", fmt.Errorf("the server did not answer a Table for %s", resourceString(w.mapping.Resource.GroupResource()))
	}
	if table.Rows = seen.updateRows(table, false); len(table.Rows) > 0 {
		if err := show(table); err != nil {
			return "", err
		}
	}
	return table.ResourceVersion, nil
}

// objects is -w with -o yaml|json|name|jsonpath=...: every object, then
// every changed object, each printed whole.
func (w *watchTarget) objects(ctx context.Context) error {
	cl := w.cl
	printer, err := objectPrinter(w.o.Output)
	if err != nil {
		return err
	}
	show := func(obj runtime.Object) error { return printer.PrintObj(obj, cl.out) }
	ri := cl.resourceInterface(w.mapping, w.ns)
	var current []runtime.Object
	var rv string
	if w.name != "" {
		obj, err := ri.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		rv = obj.GetResourceVersion()
		current = append(current, obj)
	} else {
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: w.o.Selector, FieldSelector: w.o.FieldSelector})
		if err != nil {
			return err
		}
		rv = list.GetResourceVersion()
		for i := range list.Items {
			current = append(current, &list.Items[i])
		}
	}
	seen := seenVersions{}
	for _, obj := range current {
		seen.update(obj, false)
		if !w.o.WatchOnly {
			if err := show(obj); err != nil {
				return err
			}
		}
	}
	for gone := 0; ; {
		events, err := w.watchObjects(ctx, ri, rv, seen, show)
		if !isGone(err) {
			return err
		}
		if events > 0 {
			gone = 0
		}
		if gone++; gone > maxGone {
			return err
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: w.o.Selector, FieldSelector: w.fieldSelector()})
		if err != nil {
			return err
		}
		for i := range list.Items {
			if seen.update(&list.Items[i], false) {
				if err := show(&list.Items[i]); err != nil {
					return err
				}
			}
		}
		rv = list.GetResourceVersion()
	}
}

// watchObjects prints the watch's objects from rv until it ends; events
// is how many it brought.
func (w *watchTarget) watchObjects(ctx context.Context, ri dynamic.ResourceInterface, rv string, seen seenVersions, show func(runtime.Object) error) (events int, err error) {
	wi, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: w.o.Selector, FieldSelector: w.fieldSelector(), ResourceVersion: rv})
	if err != nil {
		return 0, err
	}
	defer wi.Stop()
	for ; ; events++ {
		select {
		case <-ctx.Done():
			return events, ctx.Err()
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return events, nil
			}
			switch ev.Type {
			case watch.Bookmark:
				continue
			case watch.Error:
				return events, apierrors.FromObject(ev.Object)
			}
			seen.update(ev.Object, ev.Type == watch.Deleted)
			if err := show(ev.Object); err != nil {
				return events, err
			}
		}
	}
}

// watchEnded maps the end of a watch stream: the server closing it is a
// normal end, as with kubectl.
func watchEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("reading the watch: %w", err)
}

// statusError is the API error an ERROR event carries.
func statusError(raw []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decode watch error: %w", err)
	}
	return &apierrors.StatusError{ErrStatus: st}
}
