package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real kubectl against one agent (127.0.0.1, no pods: these tests need
// only the API): replace of hand-written manifests, diff, and the two
// event APIs.

// manifests a user writes: no resourceVersion, uid or status.
const (
	settingsManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: %s
`
	tokenManifest = `apiVersion: v1
kind: Secret
metadata:
  name: token
type: Opaque
stringData:
  token: %s
`
	webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: gcr.io/google-samples/kubernetes-bootcamp:%s
`
)

func requireKubectl(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	if _, err := exec.LookPath(kubectlBin()); err != nil {
		t.Skip("kubectl is not installed on this machine")
	}
}

// writeManifest writes the manifest (format filled with v) and returns its
// path.
func (c *cluster) writeManifest(name, format, v string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(fmt.Sprintf(format, v)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// jsonPath reads one field of an object with kubectl -o jsonpath.
func (c *cluster) jsonPath(object, path string) string {
	c.t.Helper()
	return strings.TrimSpace(c.mustKubectl("get", object, "-o", "jsonpath={"+path+"}"))
}

func TestKubectlReplaceWithoutResourceVersion(t *testing.T) {
	requireKubectl(t)
	c := startCluster(t, 1)
	files := map[string]string{
		"configmap/settings":  c.writeManifest("settings.yaml", settingsManifest, "hello"),
		"secret/token":        c.writeManifest("token.yaml", tokenManifest, "one"),
		"deployment.apps/web": c.writeManifest("web.yaml", webManifest, "v1"),
	}
	uids := map[string]string{}
	for obj, f := range files {
		contains(t, "create "+obj, c.mustKubectl("create", "-f", f), obj+" created")
		uids[obj] = c.jsonPath(obj, ".metadata.uid")
	}
	created := c.jsonPath("deployment/web", ".metadata.creationTimestamp")

	c.writeManifest("settings.yaml", settingsManifest, "bonjour")
	c.writeManifest("token.yaml", tokenManifest, "two")
	c.writeManifest("web.yaml", webManifest, "v2")
	for obj, f := range files {
		contains(t, "replace "+obj, c.mustKubectl("replace", "-f", f), obj+" replaced")
		if uid := c.jsonPath(obj, ".metadata.uid"); uid != uids[obj] {
			t.Errorf("%s: uid %s after replace, want %s", obj, uid, uids[obj])
		}
	}
	if g := c.jsonPath("configmap/settings", ".data.greeting"); g != "bonjour" {
		t.Errorf("greeting %q after replace, want bonjour", g)
	}
	if tok := c.jsonPath("secret/token", ".data.token"); tok != "dHdv" {
		t.Errorf("token %q after replace, want base64 of two", tok)
	}
	if img, gen := c.jsonPath("deployment/web", ".spec.template.spec.containers[0].image"), c.jsonPath("deployment/web", ".metadata.generation"); !strings.HasSuffix(img, ":v2") || gen != "2" {
		t.Errorf("deployment after replace: image %s generation %s, want v2 and 2", img, gen)
	}
	if ts := c.jsonPath("deployment/web", ".metadata.creationTimestamp"); ts != created {
		t.Errorf("creationTimestamp %s after replace, want %s", ts, created)
	}

	// Bad input stays a 4xx that names what is wrong.
	withUID := strings.Replace(fmt.Sprintf(settingsManifest, "x"), "name: settings", "name: settings\n  uid: 0f6a3c1e-0000-4000-8000-000000000000", 1)
	p := filepath.Join(c.dir, "uid.yaml")
	os.WriteFile(p, []byte(withUID), 0o600)
	out, err := c.kubectl("replace", "-f", p)
	if err == nil || !strings.Contains(out, `The ConfigMap "settings" is invalid: metadata.uid: Invalid value: "0f6a3c1e-0000-4000-8000-000000000000": field is immutable`) {
		t.Errorf("replace changing uid: %v\n%s\nwant Invalid naming metadata.uid", err, out)
	}
	stale := strings.Replace(fmt.Sprintf(settingsManifest, "late"), "name: settings", `name: settings
  resourceVersion: "1"`, 1)
	os.WriteFile(p, []byte(stale), 0o600)
	out, err = c.kubectl("replace", "-f", p)
	if err == nil || !strings.Contains(out, `Error from server (Conflict)`) || !strings.Contains(out, `Operation cannot be fulfilled on configmaps "settings": the object has been modified`) {
		t.Errorf("replace with a stale resourceVersion: %v\n%s\nwant Kubernetes' 409 Conflict", err, out)
	}
	if g := c.jsonPath("configmap/settings", ".data.greeting"); g != "bonjour" {
		t.Errorf("greeting %q after the refused replaces, want bonjour", g)
	}
}

// kubectlExit runs kubectl as c.kubectl does and returns its output and
// exit code (-1 when it did not run).
func (c *cluster) kubectlExit(args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kube-cache")}, args...)
	cmd := command(ctx, c.clientNS, kubectlBin(), args...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.dir, "kube-cache"), "HOME="+c.dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	return string(out) + err.Error(), -1
}

func TestKubectlDiff(t *testing.T) {
	requireKubectl(t)
	c := startCluster(t, 1)
	settings := c.writeManifest("settings.yaml", settingsManifest, "hello")
	web := c.writeManifest("web.yaml", webManifest, "v1")
	for _, f := range []string{settings, web} {
		c.mustKubectl("apply", "-f", f)
	}
	for _, f := range []string{settings, web} {
		if out, code := c.kubectlExit("diff", "-f", f); code != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("diff of %s as applied: exit %d, want 0 and no output:\n%s", filepath.Base(f), code, out)
		}
	}
	c.writeManifest("settings.yaml", settingsManifest, "bonjour")
	c.writeManifest("web.yaml", webManifest, "v2")
	out, code := c.kubectlExit("diff", "-f", settings)
	if code != 1 || !strings.Contains(out, "-  greeting: hello") || !strings.Contains(out, "+  greeting: bonjour") {
		t.Errorf("diff of the changed ConfigMap: exit %d, want 1 with the greeting change:\n%s", code, out)
	}
	out, code = c.kubectlExit("diff", "-f", web)
	if code != 1 || !strings.Contains(out, "kubernetes-bootcamp:v1") || !strings.Contains(out, "+      - image: gcr.io/google-samples/kubernetes-bootcamp:v2") {
		t.Errorf("diff of the changed Deployment: exit %d, want 1 with the image change:\n%s", code, out)
	}
	// As in Kubernetes, the dry run shows the generation a spec change
	// makes, and nothing else server-owned moves.
	if !strings.Contains(out, "-  generation: 1") || !strings.Contains(out, "+  generation: 2") || strings.Contains(out, "resourceVersion") || strings.Contains(out, "uid:") {
		t.Errorf("diff of the changed Deployment shows other server fields:\n%s", out)
	}
	// The diffs were dry runs.
	if g := c.jsonPath("configmap/settings", ".data.greeting"); g != "hello" {
		t.Errorf("greeting %q after kubectl diff, want hello", g)
	}
}

// TestKubectlEventsV1Watch: `kubectl get events.v1.events.k8s.io -w` shows
// the events the controllers record, the same ones `kubectl get events`
// lists.
func TestKubectlEventsV1Watch(t *testing.T) {
	requireKubectl(t)
	c := startCluster(t, 1)
	out := c.mustKubectl("api-resources", "--api-group=events.k8s.io")
	contains(t, "api-resources", out, "events", "ev", "events.k8s.io/v1", "true", "Event")

	// Events exist before the watch starts, so its header shows when it
	// has listed them and is watching.
	c.mustKubectl("create", "deployment", "evdemo", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
	waitFor(t, 60*time.Second, "the first ScalingReplicaSet event", func() error {
		out, err := c.kubectl("get", "events")
		if err == nil && !strings.Contains(out, "ScalingReplicaSet") {
			err = fmt.Errorf("%s", out)
		}
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := command(ctx, "", kubectlBin(), "--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kube-cache"),
		"get", "events.v1.events.k8s.io", "-w")
	watch.Env = append(os.Environ(), "HOME="+c.dir)
	var got syncBuffer
	watch.Stdout, watch.Stderr = &got, &got
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); watch.Wait() }()
	waitFor(t, 30*time.Second, "the watch's first rows", func() error {
		if out := got.String(); !strings.Contains(out, "LAST SEEN") || !strings.Contains(out, "ScalingReplicaSet") {
			return fmt.Errorf("output %q", out)
		}
		return nil
	})

	// A new event, recorded by the deployment controller through core/v1.
	c.mustKubectl("scale", "deployment/evdemo", "--replicas=2")
	const want = "Scaled up replica set evdemo-"
	var line string
	waitFor(t, 60*time.Second, "the new ScalingReplicaSet event in the events.k8s.io watch", func() error {
		for _, l := range strings.Split(got.String(), "\n") {
			if strings.Contains(l, "ScalingReplicaSet") && strings.Contains(l, "deployment/evdemo") && strings.Contains(l, want) && strings.Contains(l, "to 2") {
				line = l
				return nil
			}
		}
		return fmt.Errorf("watch output:\n%s", got.String())
	})
	msg := line[strings.Index(line, want):]
	list := c.mustKubectl("get", "events")
	if !strings.Contains(list, "ScalingReplicaSet") || !strings.Contains(list, strings.TrimSpace(msg)) {
		t.Errorf("kubectl get events lacks the event the events.k8s.io watch showed (%q):\n%s", line, list)
	}
	// And the same event read as events.k8s.io/v1 carries the mapping.
	var l struct {
		Items []struct {
			Reason    string `json:"reason"`
			Note      string `json:"note"`
			Regarding struct {
				Kind, Name string
			} `json:"regarding"`
			ReportingController string `json:"reportingController"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.mustKubectl("get", "events.v1.events.k8s.io", "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range l.Items {
		if it.Reason == "ScalingReplicaSet" && it.Regarding.Kind == "Deployment" && it.Regarding.Name == "evdemo" && strings.HasPrefix(it.Note, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no events.k8s.io/v1 ScalingReplicaSet event with regarding deployment/evdemo and its note: %+v", l.Items)
	}
}
