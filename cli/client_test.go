package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// clientContext parses client flags the way a command does.
func clientContext(t *testing.T, args ...string) *ucli.Context {
	t.Helper()
	set := flag.NewFlagSet("test", flag.ContinueOnError)
	for _, f := range clientFlags() {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return ucli.NewContext(&ucli.App{}, set, nil)
}

func isolateKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
}

func TestClientFromLocalAgent(t *testing.T) {
	isolateKubeconfig(t)
	dir, c := agentDataDir(t)
	cl, err := newClients(clientContext(t, "--data-dir", dir), Deps{LoadCluster: LoadIdentity})
	if err != nil {
		t.Fatal(err)
	}
	if cl.rest.Host != "https://10.0.0.1:6443" || cl.rest.BearerToken != c.AdminToken() || len(cl.rest.CAData) == 0 {
		t.Errorf("rest config = host %q token %q", cl.rest.Host, cl.rest.BearerToken)
	}
	if cl.namespace != "default" || cl.explicitNS {
		t.Errorf("namespace = %q explicit %v", cl.namespace, cl.explicitNS)
	}

	// --server picks another peer, keeping the identity's credentials;
	// --insecure-skip-tls-verify drops the CA.
	cl, err = newClients(clientContext(t, "--data-dir", dir, "--server", "https://10.0.0.2:6443", "--insecure-skip-tls-verify", "--namespace", "prod"), Deps{LoadCluster: LoadIdentity})
	if err != nil {
		t.Fatal(err)
	}
	if cl.rest.Host != "https://10.0.0.2:6443" || cl.rest.BearerToken != c.AdminToken() || !cl.rest.Insecure || len(cl.rest.CAData) != 0 {
		t.Errorf("rest config = host %q token %q insecure %v ca %d", cl.rest.Host, cl.rest.BearerToken, cl.rest.Insecure, len(cl.rest.CAData))
	}
	if cl.namespace != "prod" || !cl.explicitNS {
		t.Errorf("namespace = %q explicit %v", cl.namespace, cl.explicitNS)
	}
}

func TestClientKubeconfigWins(t *testing.T) {
	isolateKubeconfig(t)
	dir, _ := agentDataDir(t)
	kc := filepath.Join(t.TempDir(), "config")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://elsewhere:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]
current-context: x
`), 0o600)
	for _, args := range [][]string{{"--kubeconfig", kc}, nil} {
		if args == nil {
			t.Setenv("KUBECONFIG", kc)
		}
		cl, err := newClients(clientContext(t, append(args, "--data-dir", dir, "--token", "override")...), Deps{LoadCluster: LoadIdentity})
		if err != nil {
			t.Fatal(err)
		}
		if cl.rest.Host != "https://elsewhere:6443" || cl.rest.BearerToken != "override" || cl.namespace != "team" {
			t.Errorf("%v: host %q token %q ns %q", args, cl.rest.Host, cl.rest.BearerToken, cl.namespace)
		}
	}
}

func TestClientNothingConfigured(t *testing.T) {
	isolateKubeconfig(t)
	_, err := newClients(clientContext(t, "--data-dir", t.TempDir()), Deps{LoadCluster: LoadIdentity})
	if err == nil || !strings.Contains(err.Error(), "no API server configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientOptionsValidate(t *testing.T) {
	o := clientOptions{Server: "10.0.0.1:6443"}
	if err := o.Validate(); err == nil {
		t.Error("server without scheme accepted")
	}
	o = clientOptions{Server: "https://10.0.0.1:6443", Insecure: true, CAFile: "ca.crt"}
	if err := o.Validate(); err == nil {
		t.Error("insecure with a CA file accepted")
	}
}
