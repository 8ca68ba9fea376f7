package cli

import (
	"errors"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubectl/pkg/cmd/top"
	"k8s.io/kubectl/pkg/metricsutil"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// newTopCommand is `shoal top node|pod`: CPU and memory use from the
// metrics.k8s.io API, with kubectl's arguments, flags and output. The work
// is done by kubectl's own top library (k8s.io/kubectl/pkg/cmd/top), so the
// columns, units, sorting and errors read exactly as kubectl's do.
func newTopCommand(deps Deps) *ucli.Command {
	common := []ucli.Flag{
		&ucli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "label `SELECTOR`, e.g. app=web"},
		&ucli.StringFlag{Name: "sort-by", Usage: "sort by cpu or memory"},
		&ucli.BoolFlag{Name: "no-headers", Usage: "print no header line"},
	}
	return &ucli.Command{
		Name:  "top",
		Usage: "show the CPU and memory use of nodes or pods",
		Subcommands: []*ucli.Command{
			{
				Name: "node", Aliases: []string{"nodes", "no"}, Usage: "show the CPU and memory use of nodes",
				ArgsUsage: "[NAME | -l label]",
				Flags: append(append([]ucli.Flag{
					&ucli.BoolFlag{Name: "show-capacity", Usage: "percentages of capacity instead of allocatable"},
				}, common...), clientFlags()...),
				Action: func(c *ucli.Context) error { return topNode(c, deps) },
			},
			{
				Name: "pod", Aliases: []string{"pods", "po"}, Usage: "show the CPU and memory use of pods",
				ArgsUsage: "[NAME | -l label]",
				Flags: append(append([]ucli.Flag{
					&ucli.StringFlag{Name: "field-selector", Usage: "field `SELECTOR`, e.g. status.phase=Running"},
					&ucli.BoolFlag{Name: "containers", Usage: "one line per container"},
					&ucli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "pods of every namespace"},
					&ucli.BoolFlag{Name: "sum", Usage: "print the sum of the figures"},
				}, common...), clientFlags()...),
				Action: func(c *ucli.Context) error { return topPod(c, deps) },
			},
		},
	}
}

// topClients are what kubectl's top library reads through.
type topClients struct {
	*clients
	core    corev1client.CoreV1Interface
	metrics metricsclient.Interface
	printer *metricsutil.TopCmdPrinter
	streams genericiooptions.IOStreams
}

func newTopClients(c *ucli.Context, deps Deps) (*topClients, error) {
	cl, err := newClients(c, deps)
	if err != nil {
		return nil, err
	}
	mc, err := metricsclient.NewForConfig(cl.rest)
	if err != nil {
		return nil, err
	}
	cs, err := cl.clientset()
	if err != nil {
		return nil, err
	}
	return &topClients{
		clients: cl, core: cs.CoreV1(), metrics: mc,
		printer: metricsutil.NewTopCmdPrinter(cl.out, false),
		streams: genericiooptions.IOStreams{In: cl.in, Out: cl.out, ErrOut: cl.errw},
	}, nil
}

func topNode(c *ucli.Context, deps Deps) error {
	if c.Args().Len() > 1 {
		return errors.New("node [NAME | -l label]\nSee 'shoal top node -h' for help and examples")
	}
	o := top.TopNodeOptions{
		ResourceName: c.Args().First(),
		Selector:     c.String("selector"),
		SortBy:       c.String("sort-by"),
		NoHeaders:    c.Bool("no-headers"),
		ShowCapacity: c.Bool("show-capacity"),
	}
	if err := o.Validate(); err != nil {
		return err
	}
	tc, err := newTopClients(c, deps)
	if err != nil {
		return err
	}
	o.NodeClient, o.DiscoveryClient, o.MetricsClient = tc.core, tc.discovery, tc.metrics
	o.Printer, o.IOStreams = tc.printer, tc.streams
	return o.RunTopNode()
}

func topPod(c *ucli.Context, deps Deps) error {
	if c.Args().Len() > 1 {
		return errors.New("pod [NAME | -l label]\nSee 'shoal top pod -h' for help and examples")
	}
	o := top.TopPodOptions{
		ResourceName:    c.Args().First(),
		LabelSelector:   c.String("selector"),
		FieldSelector:   c.String("field-selector"),
		SortBy:          c.String("sort-by"),
		AllNamespaces:   c.Bool("all-namespaces"),
		PrintContainers: c.Bool("containers"),
		NoHeaders:       c.Bool("no-headers"),
		Sum:             c.Bool("sum"),
	}
	if err := o.Validate(); err != nil {
		return err
	}
	tc, err := newTopClients(c, deps)
	if err != nil {
		return err
	}
	o.Namespace = tc.namespace
	o.PodClient, o.DiscoveryClient, o.MetricsClient = tc.core, tc.discovery, tc.metrics
	o.Printer, o.IOStreams = tc.printer, tc.streams
	return o.RunTopPod()
}
