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

// startRV is where the watch starts. A list's resourceVersion is "now" and
// brings no initial events; a single object's may be older than the
// server's event history, so its watch starts at "0", whose first event
// (the object as it is) has already been printed and is skipped.
func (w *watchTarget) startRV(listRV string) (rv string, skipFirst bool) {
	if w.name != "" {
		return "0", true
	}
	return listRV, false
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
	if !w.o.WatchOnly {
		if err := printer.PrintObj(table, tw); err != nil {
			return err
		}
		tw.Flush()
	}
	rv, skip := w.startRV(table.ResourceVersion)
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
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var ev struct {
			Type   watch.EventType `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return watchEnded(ctx, err)
		}
		if ev.Type == watch.Bookmark {
			continue
		}
		if ev.Type == watch.Error {
			return statusError(ev.Object)
		}
		if skip {
			skip = false
			continue
		}
		obj, err := decodeTable(ev.Object)
		if err != nil {
			return err
		}
		if t, ok := obj.(*metav1.Table); ok && len(t.ColumnDefinitions) == 0 {
			t.ColumnDefinitions = columns
		}
		if err := printer.PrintObj(obj, tw); err != nil {
			return err
		}
		tw.Flush()
	}
}

// objects is -w with -o yaml|json|name|jsonpath=...: every object, then
// every changed object, each printed whole.
func (w *watchTarget) objects(ctx context.Context) error {
	cl := w.cl
	printer, err := objectPrinter(w.o.Output)
	if err != nil {
		return err
	}
	ri := cl.resourceInterface(w.mapping, w.ns)
	var current []runtime.Object
	listRV := ""
	if w.name != "" {
		obj, err := ri.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		current = append(current, obj)
	} else {
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: w.o.Selector, FieldSelector: w.o.FieldSelector})
		if err != nil {
			return err
		}
		listRV = list.GetResourceVersion()
		for i := range list.Items {
			current = append(current, &list.Items[i])
		}
	}
	if !w.o.WatchOnly {
		for _, obj := range current {
			if err := printer.PrintObj(obj, cl.out); err != nil {
				return err
			}
		}
	}
	rv, skip := w.startRV(listRV)
	wi, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: w.o.Selector, FieldSelector: w.fieldSelector(), ResourceVersion: rv})
	if err != nil {
		return err
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			switch {
			case ev.Type == watch.Bookmark:
				continue
			case ev.Type == watch.Error:
				return apierrors.FromObject(ev.Object)
			case skip:
				skip = false
				continue
			}
			if err := printer.PrintObj(ev.Object, cl.out); err != nil {
				return err
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
