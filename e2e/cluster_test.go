package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const manifest = "../testdata/manifests/app.yaml"

// TestThreeAgentsApplyAndReadBack starts three real agents joined with
// `shoal join`, applies a multi-document manifest through one peer and reads
// it back through another, with shoal's CLI and then with kubectl.
func TestThreeAgentsApplyAndReadBack(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	c := startCluster(t, 3)
	a, b, third := c.agents[0], c.agents[1], c.agents[2]

	out := c.mustShoal("apply", "-f", manifest, "--kubeconfig", c.kubeconfig, "--server", a.apiURL())
	contains(t, "first apply", out, "namespace/demo created", "deployment.apps/web created", "service/web created", "configmap/web-config created")

	out = c.mustShoal("get", "deploy", "web", "-n", "demo", "-o", "yaml", "--kubeconfig", c.kubeconfig, "--server", b.apiURL())
	contains(t, "deployment read back through another peer", out, "replicas: 2", "image: gcr.io/google-samples/kubernetes-bootcamp:v1", "type: RollingUpdate")
	out = c.mustShoal("get", "cm", "web-config", "-n", "demo", "-o", "json", "--kubeconfig", c.kubeconfig, "--server", third.apiURL())
	contains(t, "configmap read back through the third peer", out, `"greeting": "hello"`)
	out = c.mustShoal("get", "deploy,svc", "-n", "demo", "--kubeconfig", c.kubeconfig, "--server", b.apiURL())
	contains(t, "tables", out, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "deployment.apps/web", "0/2", "service/web", "ClusterIP", "80/TCP")

	out = c.mustShoal("apply", "-f", manifest, "--kubeconfig", c.kubeconfig, "--server", b.apiURL())
	contains(t, "second apply", out, "deployment.apps/web unchanged", "service/web unchanged")

	out = c.mustShoal("describe", "deployment", "web", "-n", "demo", "--kubeconfig", c.kubeconfig, "--server", third.apiURL())
	contains(t, "describe", out, "Name:", "web", "Replicas:", "2 desired", "StrategyType:", "RollingUpdate")

	out = c.mustShoal("delete", "-f", manifest, "--kubeconfig", c.kubeconfig, "--server", a.apiURL())
	contains(t, "delete", out, `deployment.apps "web" deleted`)
	waitFor(t, 30e9, "the namespace to be gone", func() error {
		_, err := c.shoal("get", "ns", "demo", "--kubeconfig", c.kubeconfig, "--server", b.apiURL())
		if err == nil {
			return errString("namespace demo still exists")
		}
		if !strings.Contains(err.Error(), "NotFound") {
			return err
		}
		return nil
	})
}

// TestKubectlAgainstCluster drives the same cluster with the real kubectl:
// get nodes, apply twice with a change in between, get -o yaml through
// another peer, delete -f.
func TestKubectlAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	if _, err := exec.LookPath(kubectlBin()); err != nil {
		t.Skip("kubectl is not installed on this machine; skipping the kubectl steps")
	}
	c := startCluster(t, 3)
	b, third := c.agents[1], c.agents[2]

	out := c.mustKubectl("get", "nodes")
	contains(t, "kubectl get nodes", out, "NAME", "STATUS", "ROLES", "AGE", "VERSION", "node-a", "node-b", "node-c")
	if n := strings.Count(out, " Ready "); n != 3 {
		t.Fatalf("kubectl get nodes: %d Ready nodes, want 3:\n%s", n, out)
	}

	out = c.mustKubectl("apply", "-f", manifest)
	contains(t, "kubectl apply", out, "namespace/demo created", "deployment.apps/web created", "service/web created", "configmap/web-config created")

	changed := filepath.Join(t.TempDir(), "app.yaml")
	orig, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// The change touches a merge-keyed list (env, by name): kubectl computes
	// the strategic merge patch from the served OpenAPI v3 schemas.
	edited := strings.Replace(string(orig), "replicas: 2", "replicas: 3", 1)
	edited = strings.Replace(edited, "        ports:\n", "        env:\n        - name: GREETING\n          value: hi\n        ports:\n", 1)
	if err := os.WriteFile(changed, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	out = c.mustKubectl("apply", "-f", changed)
	contains(t, "kubectl apply (changed)", out, "deployment.apps/web configured", "service/web unchanged", "configmap/web-config unchanged")
	if strings.Contains(out, "warning") {
		t.Errorf("kubectl apply (changed) warned:\n%s", out)
	}

	out = c.mustKubectl("--server", b.apiURL(), "get", "deploy", "web", "-n", "demo", "-o", "yaml")
	contains(t, "kubectl get -o yaml through another peer", out, "replicas: 3", "kubectl.kubernetes.io/last-applied-configuration", "generation: 2",
		"name: GREETING", "value: hi", "containerPort: 8080")
	if n := strings.Count(out, "image: gcr.io/"); n != 1 {
		t.Errorf("kubectl get -o yaml: %d containers, want 1:\n%s", n, out)
	}

	// explain reads the OpenAPI v3 schemas.
	out = c.mustKubectl("explain", "pods.spec.containers.image")
	contains(t, "kubectl explain pods.spec.containers.image", out, "KIND:       Pod", "FIELD: image <string>", "Container image name.")
	out = c.mustKubectl("explain", "deployment.spec.replicas")
	contains(t, "kubectl explain deployment.spec.replicas", out, "GROUP:      apps", "FIELD: replicas <integer>", "Number of desired pods.")
	out = c.mustKubectl("explain", "ingress.spec.rules")
	contains(t, "kubectl explain ingress.spec.rules", out, "GROUP:      networking.k8s.io", "FIELD: rules <[]IngressRule>", "host\t<string>", "http\t<HTTPIngressRuleValue>")

	out = c.mustKubectl("--server", third.apiURL(), "get", "deploy", "-n", "demo")
	contains(t, "kubectl get deploy", out, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web", "0/3")

	// Delete the contents before the namespace so that kubectl finds each.
	out = c.mustKubectl("delete", "-n", "demo", "deployment/web", "service/web", "configmap/web-config")
	contains(t, "kubectl delete", out, `deployment.apps "web" deleted`, `service "web" deleted`, `configmap "web-config" deleted`)
	out = c.mustKubectl("delete", "-f", manifest, "--ignore-not-found")
	contains(t, "kubectl delete -f", out, `namespace "demo" deleted`)
	if out, err := c.kubectl("--server", b.apiURL(), "get", "deploy", "web", "-n", "demo"); err == nil || !strings.Contains(out, "NotFound") {
		t.Fatalf("after delete: want NotFound, got %v:\n%s", err, out)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
