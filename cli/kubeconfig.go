package cli

import (
	"fmt"
	"net/url"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/shoal-project/shoal/node"
)

// Names used in the kubeconfig that `shoal kubeconfig` prints.
const (
	kubeconfigCluster = "shoal"
	kubeconfigUser    = "admin"
	kubeconfigContext = "shoal"
)

// buildKubeconfig is a kubeconfig for the admin user of the cluster at
// server: the cluster CA pinned, the admin bearer token, one context.
func buildKubeconfig(server string, creds Credentials) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigCluster] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: creds.CACertPEM,
	}
	cfg.AuthInfos[kubeconfigUser] = &clientcmdapi.AuthInfo{Token: creds.AdminToken}
	cfg.Contexts[kubeconfigContext] = &clientcmdapi.Context{Cluster: kubeconfigCluster, AuthInfo: kubeconfigUser}
	cfg.CurrentContext = kubeconfigContext
	return cfg
}

// localKubeconfig builds the kubeconfig from the agent data dir dir. server
// overrides the agent's own API URL; without it the agent must have recorded
// its AgentInfo.
func localKubeconfig(deps Deps, dir, server string) (*clientcmdapi.Config, error) {
	if server == "" {
		info, err := node.ReadAgentInfo(dir)
		if err != nil {
			return nil, err
		}
		server = info.APIURL()
	} else if err := checkServerURL(server); err != nil {
		return nil, err
	}
	creds, err := loadCluster(deps, dir)
	if err != nil {
		return nil, err
	}
	return buildKubeconfig(server, creds), nil
}

func checkServerURL(server string) error {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--server: %q is not an http(s) URL like https://10.0.0.1:6443", server)
	}
	return nil
}

// newKubeconfigCommand is `shoal kubeconfig`: a kubeconfig for kubectl.
func newKubeconfigCommand(deps Deps) *ucli.Command {
	return &ucli.Command{
		Name:  "kubeconfig",
		Usage: "print a kubeconfig for the admin user of the local agent's cluster",
		Flags: []ucli.Flag{
			dataDirFlag(),
			&ucli.StringFlag{Name: "server", Usage: "API `URL` to put in the kubeconfig (default: this agent's)"},
		},
		Action: func(c *ucli.Context) error {
			cfg, err := localKubeconfig(deps, c.String("data-dir"), c.String("server"))
			if err != nil {
				return err
			}
			b, err := clientcmd.Write(*cfg)
			if err != nil {
				return fmt.Errorf("encode kubeconfig: %w", err)
			}
			_, err = deps.Stdout.Write(b)
			return err
		},
	}
}
