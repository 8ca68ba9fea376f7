package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoal-project/shoal/internal/version"
)

// clientVersion is the Kubernetes version shoal's API speaks, the same as
// the servers report (kubectl compares the two); shoal's own release is
// version.Version.
const clientVersion = "v1.32.4-shoal"

// newVersionCommand is `shoal version`: the client's and the server's.
func newVersionCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the client and server versions",
		Flags: append([]ucli.Flag{&ucli.BoolFlag{Name: "client", Usage: "the client's version only"}}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			fmt.Fprintf(deps.Stdout, "Client Version: %s\n", clientVersion)
			fmt.Fprintf(deps.Stdout, "Shoal Version: %s\n", version.Version)
			if c.Bool("client") {
				return nil
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			v, err := cl.discovery.ServerVersion()
			if err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "Server Version: %s\n", v.GitVersion)
			return nil
		},
	}
}

// newAPIResourcesCommand is `shoal api-resources`, in kubectl's columns.
func newAPIResourcesCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "api-resources",
		Usage: "list the resource types the cluster serves",
		Flags: clientFlags(),
		Action: func(c *ucli.Context) error {
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			lists, err := cl.discovery.ServerPreferredResources()
			if err != nil {
				return err
			}
			type row struct{ name, short, gv, namespaced, kind string }
			var rows []row
			for _, l := range lists {
				gv, err := schema.ParseGroupVersion(l.GroupVersion)
				if err != nil {
					continue
				}
				for _, r := range l.APIResources {
					if strings.Contains(r.Name, "/") {
						continue
					}
					rows = append(rows, row{r.Name, strings.Join(r.ShortNames, ","), gv.String(), fmt.Sprint(r.Namespaced), r.Kind})
				}
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
			tw := tabwriter.NewWriter(cl.out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.short, r.gv, r.namespaced, r.kind)
			}
			return tw.Flush()
		},
	}
}
