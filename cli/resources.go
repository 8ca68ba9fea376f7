package cli

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/restmapper"
)

// resourceArgs is one resource type of a command line with the names given
// for it; no names means every object of the type.
type resourceArgs struct {
	mapping *meta.RESTMapping
	names   []string
}

// parseResourceArgs reads kubectl's two argument forms:
//
//	TYPE[,TYPE...] [NAME...]
//	TYPE/NAME [TYPE/NAME...]
//
// and resolves the types (shortnames, "all" and other categories) through
// discovery. Consecutive TYPE/NAME pairs of one type are grouped. The
// result is in argument order.
func (cl *clients) parseResourceArgs(args []string) ([]resourceArgs, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource, e.g. \"pods\" or \"deployments\"")
	}
	if strings.Contains(args[0], "/") {
		var out []resourceArgs
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok || typ == "" || name == "" {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'shoal get resource/<resource_name>' instead of 'shoal get resource resource/<resource_name>'): %q", a)
			}
			m, err := cl.mappingFor(typ)
			if err != nil {
				return nil, err
			}
			if n := len(out); n > 0 && out[n-1].mapping.Resource == m.Resource {
				out[n-1].names = append(out[n-1].names, name)
				continue
			}
			out = append(out, resourceArgs{mapping: m, names: []string{name}})
		}
		return out, nil
	}
	for _, a := range args[1:] {
		if strings.Contains(a, "/") {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form: %q", a)
		}
	}
	types, err := cl.expandTypes(strings.Split(args[0], ","))
	if err != nil {
		return nil, err
	}
	out := make([]resourceArgs, 0, len(types))
	for _, t := range types {
		m, err := cl.mappingFor(t)
		if err != nil {
			return nil, err
		}
		out = append(out, resourceArgs{mapping: m, names: args[1:]})
	}
	return out, nil
}

// expandTypes replaces categories ("all") by their resources, keeping
// order and dropping duplicates.
func (cl *clients) expandTypes(types []string) ([]string, error) {
	expander := restmapper.NewDiscoveryCategoryExpander(cl.discovery)
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, t := range types {
		if t == "" {
			continue
		}
		// A real resource of that name wins over a category.
		if _, err := cl.mappingFor(t); err == nil {
			add(t)
			continue
		}
		grs, ok := expander.Expand(t)
		if !ok || len(grs) == 0 {
			add(t) // mappingFor reports the error
			continue
		}
		for _, gr := range grs {
			add(gr.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource")
	}
	return out, nil
}
