package cli

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// restGetter hands an invocation's clients to kubectl's libraries (wait,
// the resource builder), which take a RESTClientGetter. They share the
// connection, discovery cache and namespace the command already resolved.
type restGetter struct{ cl *clients }

func (g restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cl.rest), nil }

func (g restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.cl.discovery, nil
}

func (g restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.cl.mapper, nil }

func (g restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return resolvedConfig{g.cl} }

// resolvedConfig answers the kubeconfig questions kubectl's libraries ask
// (the namespace, above all) from what newClients resolved.
type resolvedConfig struct{ cl *clients }

func (c resolvedConfig) RawConfig() (clientcmdapi.Config, error) { return clientcmdapi.Config{}, nil }

func (c resolvedConfig) ClientConfig() (*rest.Config, error) { return rest.CopyConfig(c.cl.rest), nil }

func (c resolvedConfig) Namespace() (string, bool, error) {
	return c.cl.namespace, c.cl.explicitNS, nil
}

func (c resolvedConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}
