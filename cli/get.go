package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/rest"
	kubectlget "k8s.io/kubectl/pkg/cmd/get"
)

// tableAccept asks the server for a meta.k8s.io Table, as kubectl get does,
// and falls back to the plain object when it has none.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// getOptions are one invocation's `shoal get` flags and arguments.
type getOptions struct {
	Args          []string
	Output        string
	Selector      string
	FieldSelector string
	AllNamespaces bool
	ShowLabels    bool
	// Watch prints the objects, then every change; WatchOnly only the
	// changes.
	Watch     bool
	WatchOnly bool
}

// Validate checks the flags.
func (o *getOptions) Validate() error {
	var errs []error
	switch format, _, _ := strings.Cut(o.Output, "="); format {
	case "", "wide", "yaml", "json", "name", "go-template", "jsonpath", "custom-columns":
	default:
		errs = append(errs, fmt.Errorf("--output: unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,go-template,json,jsonpath,name,wide,yaml", o.Output))
	}
	if len(o.Args) == 0 {
		errs = append(errs, errors.New("you must specify the type of resource to get, e.g. pods, services, deployments, nodes or all"))
	}
	return errors.Join(errs...)
}

func newGetCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "get",
		Usage:     "list objects, or show some by name",
		ArgsUsage: "TYPE[,TYPE...] [NAME...] | TYPE/NAME...",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "wide, yaml, json, name, go-template=T, jsonpath=E or custom-columns=SPEC"},
			&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "label `SELECTOR`, e.g. app=web"},
			&ucli.StringFlag{Name: "field-selector", Usage: "field `SELECTOR`, e.g. metadata.name=web"},
			&ucli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list across all namespaces"},
			&ucli.BoolFlag{Name: "show-labels", Usage: "add a LABELS column"},
			&ucli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "after listing, print every change"},
			&ucli.BoolFlag{Name: "watch-only", Usage: "print every change, without listing first"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			o := getOptions{
				Args:          c.Args().Slice(),
				Output:        c.String("output"),
				Selector:      c.String("selector"),
				FieldSelector: c.String("field-selector"),
				AllNamespaces: c.Bool("all-namespaces"),
				ShowLabels:    c.Bool("show-labels"),
				Watch:         c.Bool("watch"),
				WatchOnly:     c.Bool("watch-only"),
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			return cl.get(c.Context, o)
		},
	}
}

func (cl *clients) get(ctx context.Context, o getOptions) error {
	groups, err := cl.parseResourceArgs(o.Args)
	if err != nil {
		return err
	}
	if o.Watch || o.WatchOnly {
		return cl.getWatch(ctx, o, groups)
	}
	if o.Output == "" || o.Output == "wide" {
		return cl.getTables(ctx, o, groups)
	}
	return cl.getObjects(ctx, o, groups)
}

// listNamespace is where to look for objects of m: "" for cluster-scoped
// kinds and for -A.
func (cl *clients) listNamespace(m *meta.RESTMapping, all bool) string {
	if all || m.Scope.Name() != meta.RESTScopeNameNamespace {
		return ""
	}
	return cl.namespace
}

// getTables prints server-side Tables, one block per resource type,
// separated by blank lines, as kubectl does.
func (cl *clients) getTables(ctx context.Context, o getOptions, groups []resourceArgs) error {
	var errs []error
	wrote := false
	allNamespaced := !o.AllNamespaces
	for _, g := range groups {
		namespaced := g.mapping.Scope.Name() == meta.RESTScopeNameNamespace
		allNamespaced = allNamespaced && namespaced
		printer := printers.NewTablePrinter(printers.PrintOptions{
			Wide:          o.Output == "wide",
			WithNamespace: o.AllNamespaces && namespaced,
			ShowLabels:    o.ShowLabels,
			Kind:          g.mapping.GroupVersionKind.GroupKind(),
			WithKind:      len(groups) > 1,
		})
		rc, err := cl.restClientFor(g.mapping)
		if err != nil {
			return err
		}
		names := g.names
		if len(names) == 0 {
			names = []string{""} // the whole list
		}
		var buf bytes.Buffer
		w := printers.GetNewTabWriter(&buf)
		for _, name := range names {
			obj, err := cl.fetchTable(ctx, rc, g.mapping, cl.listNamespace(g.mapping, o.AllNamespaces), name, o)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs = append(errs, err)
				continue
			}
			if err := printer.PrintObj(obj, w); err != nil {
				errs = append(errs, err)
			}
		}
		w.Flush()
		if buf.Len() == 0 {
			continue
		}
		if wrote {
			fmt.Fprintln(cl.out)
		}
		cl.out.Write(buf.Bytes())
		wrote = true
	}
	if !wrote && len(errs) == 0 {
		if allNamespaced {
			fmt.Fprintf(cl.errw, "No resources found in %s namespace.\n", cl.namespace)
		} else {
			fmt.Fprintln(cl.errw, "No resources found")
		}
	}
	return reportAll(cl.errw, errs)
}

// fetchTable GETs one object (name != "") or the list as a Table.
func (cl *clients) fetchTable(ctx context.Context, rc rest.Interface, m *meta.RESTMapping, ns, name string, o getOptions) (runtime.Object, error) {
	req := rc.Get().Resource(m.Resource.Resource).SetHeader("Accept", tableAccept)
	if ns != "" {
		req = req.Namespace(ns)
	}
	if name != "" {
		req = req.Name(name)
	} else {
		if o.Selector != "" {
			req = req.Param("labelSelector", o.Selector)
		}
		if o.FieldSelector != "" {
			req = req.Param("fieldSelector", o.FieldSelector)
		}
	}
	res := req.Do(ctx)
	// Error, unlike Raw, turns a Status body into an API error.
	if err := res.Error(); err != nil {
		return nil, err
	}
	raw, err := res.Raw()
	if err != nil {
		return nil, err
	}
	return decodeTable(raw)
}

// decodeTable turns a GET answer into what the table printer prints: a
// *metav1.Table whose rows carry their objects decoded (for -A and
// --show-labels), or, when the server sent a plain object or list, that
// object, which the printer shows as NAME and AGE.
func decodeTable(raw []byte) (runtime.Object, error) {
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, raw)
	if err != nil {
		return nil, fmt.Errorf("decode server answer: %w", err)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "Table" || gvk.Group != metav1.GroupName {
		return obj, nil
	}
	table := &metav1.Table{}
	if err := json.Unmarshal(raw, table); err != nil {
		return nil, fmt.Errorf("decode Table: %w", err)
	}
	for i := range table.Rows {
		row := &table.Rows[i]
		if row.Object.Raw == nil || row.Object.Object != nil {
			continue
		}
		o, err := runtime.Decode(unstructured.UnstructuredJSONScheme, row.Object.Raw)
		if err != nil {
			return nil, fmt.Errorf("decode Table row: %w", err)
		}
		row.Object.Object = o
	}
	return table, nil
}

// getObjects prints full objects as yaml, json or names. One named object
// prints alone; anything else becomes a v1 List, as with kubectl.
func (cl *clients) getObjects(ctx context.Context, o getOptions, groups []resourceArgs) error {
	var errs []error
	var items []unstructured.Unstructured
	for _, g := range groups {
		ri := cl.resourceInterface(g.mapping, cl.listNamespace(g.mapping, o.AllNamespaces))
		if len(g.names) == 0 {
			list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: o.Selector, FieldSelector: o.FieldSelector})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			items = append(items, list.Items...)
			continue
		}
		for _, name := range g.names {
			obj, err := ri.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			items = append(items, *obj)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	printer, err := objectPrinter(o.Output)
	if err != nil {
		return err
	}
	singleItemImplied := len(groups) == 1 && len(groups[0].names) == 1
	switch {
	case singleItemImplied && len(items) == 1:
		err = printer.PrintObj(&items[0], cl.out)
	case singleItemImplied:
		// The one object was not found; the error says so.
	default:
		list := &unstructured.UnstructuredList{
			Object: map[string]interface{}{
				"kind":       "List",
				"apiVersion": "v1",
				"metadata":   map[string]interface{}{"resourceVersion": ""},
			},
			Items: items,
		}
		if o.Output == "name" {
			for i := range items {
				if err = printer.PrintObj(&items[i], cl.out); err != nil {
					break
				}
			}
		} else {
			err = printer.PrintObj(list, cl.out)
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	return reportAll(cl.errw, errs)
}

// objectPrinter is kubectl's printer for -o json|yaml|name|go-template=T|
// jsonpath=E|custom-columns=SPEC.
func objectPrinter(output string) (printers.ResourcePrinter, error) {
	format, arg, _ := strings.Cut(output, "=")
	switch format {
	case "json":
		return &printers.JSONPrinter{}, nil
	case "yaml":
		return &printers.YAMLPrinter{}, nil
	case "go-template":
		p, err := printers.NewGoTemplatePrinter([]byte(arg))
		if err != nil {
			return nil, fmt.Errorf("error parsing template %s, %w", arg, err)
		}
		p.AllowMissingKeys(true)
		return p, nil
	case "jsonpath":
		p, err := printers.NewJSONPathPrinter(arg)
		if err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s, %w", arg, err)
		}
		p.AllowMissingKeys(true)
		p.EnableJSONOutput(false)
		return p, nil
	case "custom-columns":
		return kubectlget.NewCustomColumnsPrinterFromSpec(arg, unstructured.UnstructuredJSONScheme, false)
	}
	return &printers.NamePrinter{}, nil
}

// reportAll prints each error and returns ErrReported if there was any.
func reportAll(w io.Writer, errs []error) error {
	for _, err := range errs {
		reportErr(w, err)
	}
	if len(errs) > 0 {
		return ErrReported
	}
	return nil
}
