package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// clientOptions are the connection flags every client command shares.
type clientOptions struct {
	Kubeconfig string
	Server     string
	Token      string
	CAFile     string
	Insecure   bool
	Namespace  string
	DataDir    string
}

func clientFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` (default $KUBECONFIG, else the local agent's data dir, else ~/.kube/config)"},
		&ucli.StringFlag{Name: "server", Aliases: []string{"s"}, Usage: "API server `URL` of any peer"},
		&ucli.StringFlag{Name: "token", Usage: "bearer token for the API server"},
		&ucli.BoolFlag{Name: "insecure-skip-tls-verify", Usage: "do not check the server's certificate"},
		&ucli.StringFlag{Name: "certificate-authority", Usage: "CA certificate `FILE` for the server"},
		&ucli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "namespace (default: the kubeconfig's, else \"default\")"},
		dataDirFlag(),
	}
}

func decodeClientOptions(c *ucli.Context) clientOptions {
	return clientOptions{
		Kubeconfig: c.String("kubeconfig"),
		Server:     c.String("server"),
		Token:      c.String("token"),
		CAFile:     c.String("certificate-authority"),
		Insecure:   c.Bool("insecure-skip-tls-verify"),
		Namespace:  c.String("namespace"),
		DataDir:    c.String("data-dir"),
	}
}

// Validate checks the flags that can be checked without I/O.
func (o *clientOptions) Validate() error {
	var errs []error
	if o.Server != "" {
		if err := checkServerURL(o.Server); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Insecure && o.CAFile != "" {
		errs = append(errs, errors.New("--insecure-skip-tls-verify and --certificate-authority cannot be used together"))
	}
	return errors.Join(errs...)
}

// clientConfig picks where the connection comes from, in this order:
//  1. --kubeconfig or $KUBECONFIG;
//  2. the local agent's data dir, when it holds a cluster identity (--server
//     then only picks another peer);
//  3. ~/.kube/config.
//
// The other flags override what the chosen source says.
func (o *clientOptions) clientConfig(deps Deps) clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{}
	overrides.ClusterInfo.Server = o.Server
	overrides.AuthInfo.Token = o.Token
	overrides.Context.Namespace = o.Namespace
	if o.Insecure {
		overrides.ClusterInfo.InsecureSkipTLSVerify = true
	}
	if o.CAFile != "" {
		overrides.ClusterInfo.CertificateAuthority = o.CAFile
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	if o.Kubeconfig == "" && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" && deps.LoadCluster != nil {
		if cfg, err := localKubeconfig(deps, o.DataDir, o.Server); err == nil {
			// clientcmd drops the CA data when --insecure-skip-tls-verify
			// or --certificate-authority overrides it.
			return clientcmd.NewNonInteractiveClientConfig(*cfg, kubeconfigContext, overrides, rules)
		}
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// clients are what the client commands use to reach the API.
type clients struct {
	rest *rest.Config
	// namespace is -n, else the kubeconfig context's, else "default";
	// explicitNS says it came from -n.
	namespace  string
	explicitNS bool
	dynamic    dynamic.Interface
	discovery  discovery.CachedDiscoveryInterface
	mapper     meta.RESTMapper
	out, errw  io.Writer
	in         io.Reader
	typed      kubernetes.Interface // see clientset
}

// newClients decodes and validates the connection flags and builds the
// clients. It does no network I/O: discovery is deferred to first use.
func newClients(c *ucli.Context, deps Deps) (*clients, error) {
	o := decodeClientOptions(c)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cc := o.clientConfig(deps)
	restConfig, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no API server configured: pass --server (and --token), --kubeconfig, or run on a node with a running agent (--data-dir)")
		}
		return nil, err
	}
	ns, explicit, err := cc.Namespace()
	if err != nil {
		return nil, err
	}
	cl, err := newClientsForConfig(restConfig, ns, deps)
	if err != nil {
		return nil, err
	}
	cl.explicitNS = explicit
	return cl, nil
}

func newClientsForConfig(restConfig *rest.Config, namespace string, deps Deps) (*clients, error) {
	restConfig = rest.CopyConfig(restConfig)
	if restConfig.UserAgent == "" {
		restConfig.UserAgent = "shoal/" + rest.DefaultKubernetesUserAgent()
	}
	// kubectl's defaults; the client-go ones (5/10) make `get all` crawl.
	restConfig.QPS, restConfig.Burst = 50, 300
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, func(string) {})
	if namespace == "" {
		namespace = "default"
	}
	return &clients{
		rest:      restConfig,
		namespace: namespace,
		dynamic:   dyn,
		discovery: cached,
		mapper:    mapper,
		out:       deps.Stdout,
		errw:      deps.Stderr,
		in:        deps.Stdin,
	}, nil
}

// mappingFor resolves a resource argument as kubectl does: "pods", "po",
// "pod", "deployments.apps", "deployments.v1.apps" or a kind ("Deployment").
func (cl *clients) mappingFor(arg string) (*meta.RESTMapping, error) {
	fullySpecified, gr := schema.ParseResourceArg(strings.ToLower(arg))
	var gvk schema.GroupVersionKind
	var err error
	if fullySpecified != nil {
		gvk, _ = cl.mapper.KindFor(*fullySpecified)
	}
	if gvk.Empty() {
		gvk, err = cl.mapper.KindFor(gr.WithVersion(""))
	}
	if gvk.Empty() {
		// A Kind, as in "Deployment" or "Deployment.apps".
		if m, kerr := cl.mapper.RESTMapping(schema.ParseGroupKind(arg)); kerr == nil {
			return m, nil
		}
		if err != nil && !meta.IsNoMatchError(err) {
			return nil, err // discovery failed: the server is unreachable or broken
		}
		return nil, fmt.Errorf("the server doesn't have a resource type %q", arg)
	}
	m, err := cl.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("the server doesn't have a resource type %q", arg)
	}
	return m, nil
}

// restClientFor is a REST client for the mapping's group-version, for the
// requests the dynamic client cannot make (Table Accept headers).
func (cl *clients) restClientFor(m *meta.RESTMapping) (rest.Interface, error) {
	cfg := rest.CopyConfig(cl.rest)
	gv := m.GroupVersionKind.GroupVersion()
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.RESTClientFor(cfg)
}

// resourceInterface is the dynamic client for m in namespace ns ("" for all
// namespaces); ns is ignored for cluster-scoped resources.
func (cl *clients) resourceInterface(m *meta.RESTMapping, ns string) dynamic.ResourceInterface {
	r := cl.dynamic.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameRoot {
		return r
	}
	return r.Namespace(ns)
}

// kindString names a kind as kubectl prints it: "deployment.apps", "service".
func kindString(gk schema.GroupKind) string {
	return strings.ToLower(gk.String())
}

// resourceString names a resource as API messages do: "deployments.apps".
func resourceString(gr schema.GroupResource) string {
	return gr.String()
}

// clientset is the typed client for the commands that use k8s.io/api
// structs, built once per invocation.
func (cl *clients) clientset() (kubernetes.Interface, error) {
	if cl.typed == nil {
		cs, err := kubernetes.NewForConfig(cl.rest)
		if err != nil {
			return nil, err
		}
		cl.typed = cs
	}
	return cl.typed, nil
}
