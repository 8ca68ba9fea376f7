package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/kubectl/pkg/proxy"
)

// newProxyCommand is `shoal proxy [--port 8001] [--address 127.0.0.1]`:
// kubectl proxy's server (from kubectl's own library), relaying local HTTP
// requests to the API with the user's credentials.
func newProxyCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "proxy",
		Usage: "serve the API on a local port, with your credentials added",
		Flags: append([]ucli.Flag{
			&ucli.IntFlag{Name: "port", Aliases: []string{"p"}, Value: 8001, Usage: "local port (0: any free one)"},
			&ucli.StringFlag{Name: "address", Value: "127.0.0.1", Usage: "local address to listen on"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			cl, err := newClients(c, deps)
			if err != nil {
				return err
			}
			filter := &proxy.FilterServer{
				AcceptPaths:   proxy.MakeRegexpArrayOrDie(proxy.DefaultPathAcceptRE),
				RejectPaths:   proxy.MakeRegexpArrayOrDie(proxy.DefaultPathRejectRE),
				AcceptHosts:   proxy.MakeRegexpArrayOrDie(proxy.DefaultHostAcceptRE),
				RejectMethods: proxy.MakeRegexpArrayOrDie(proxy.DefaultMethodRejectRE),
			}
			srv, err := proxy.NewServer("", "/", "/static/", filter, cl.rest, 0, false)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", net.JoinHostPort(c.String("address"), strconv.Itoa(c.Int("port"))))
			if err != nil {
				return err
			}
			fmt.Fprintf(cl.out, "Starting to serve on %s\n", l.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.ServeOnListener(l) }()
			select {
			case err := <-errc:
				return err
			case <-c.Context.Done():
				l.Close()
				return context.Canceled
			}
		},
	}
}
