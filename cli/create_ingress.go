package cli

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcreate "k8s.io/kubectl/pkg/cmd/create"
)

// newCreateIngressCommand is `shoal create ingress NAME --rule ...`: the
// object is built, checked and sent by kubectl's own `create ingress`
// code, so rules mean exactly what they mean to kubectl
// (host/path=service:port[,tls[=secret]], a trailing "*" makes a Prefix
// path, else Exact).
func newCreateIngressCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:      "ingress",
		Aliases:   []string{"ing"},
		Usage:     "create an ingress routing hosts and paths to services",
		ArgsUsage: "NAME --rule=host/path=service:port[,tls[=secret]] [--class CLASS] [--default-backend service:port]",
		Flags: append([]ucli.Flag{
			&listFlag{GenericFlag: ucli.GenericFlag{Name: "rule", Usage: "`host/path=service:port[,tls[=secret]]` (repeatable); a path ending in * is a Prefix, else Exact"}},
			&ucli.StringFlag{Name: "class", Usage: "ingress class `NAME` (default: the cluster's default class)"},
			&ucli.StringFlag{Name: "default-backend", Usage: "`service:port` for requests no rule matches"},
			&listFlag{GenericFlag: ucli.GenericFlag{Name: "annotation", Usage: "`KEY=VALUE` annotation (repeatable)"}},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return errors.New("exactly one NAME is required")
			}
			o := kubectlcreate.NewCreateIngressOptions(genericiooptions.IOStreams{})
			o.Name = c.Args().First()
			o.IngressClass = c.String("class")
			o.Rules = c.Generic("rule").(*stringList).values
			o.DefaultBackend = c.String("default-backend")
			o.Annotations = c.Generic("annotation").(*stringList).values
			if err := o.Validate(); err != nil {
				return err
			}
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			cs, err := cl.clientset()
			if err != nil {
				return err
			}
			o.Namespace, o.Client, o.FieldManager = cl.namespace, cs.NetworkingV1(), "shoal-create"
			o.PrintObj = func(runtime.Object) error {
				_, err := fmt.Fprintf(cl.out, "ingress.networking.k8s.io/%s created\n", o.Name)
				return err
			}
			return o.Run()
		},
	}
}
