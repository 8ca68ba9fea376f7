package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const snapshotManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  namespace: shop
data:
  beta: "true"
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  password: hunter2
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: gcr.io/google-samples/kubernetes-bootcamp:v1
`

// TestSnapshotSaveAndRestore backs up a cluster through a peer that does
// not lead, stops every machine, restores the file into a fresh data dir
// and starts a new cluster from it: the objects, the claims (a Service
// cannot take the restored one's cluster IP) and the identity (the old
// kubeconfig and join token work) are all there, and others join it.
func TestSnapshotSaveAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	l := newCPLab(t, 3)
	as := l.startCluster(3)
	out, err := l.applyYAML(as[0], "shop", snapshotManifest)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "apply", out, "namespace/shop created", "configmap/settings created", "secret/db created", "service/web created", "deployment.apps/web created")
	clusterIP := l.mustKC(as[0], "get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(clusterIP, "10.43.") {
		t.Fatalf("service/web got cluster IP %q, want one from 10.43.0.0/16", clusterIP)
	}
	waitFor(t, 30*time.Second, "the Deployment's ReplicaSet", func() error {
		_, err := l.kc(as[0], "get", "rs", "-n", "shop", "-l", "app=web", "-o", "name")
		return err
	})
	oldToken := l.mustShoal("token", "--data-dir", as[0].dataDir)
	nodes, err := l.nodes(as[0])
	if err != nil {
		t.Fatal(err)
	}
	var peer *agent
	for _, a := range as {
		for _, n := range nodes {
			if n.Name == a.name && roleOf(n) != "leader" && peer == nil {
				peer = a
			}
		}
	}

	file := filepath.Join(l.dir, "backup.snap")
	out = l.mustKC(peer, "snapshot", "save", file)
	contains(t, "snapshot save through "+peer.name, out, "Snapshot saved to "+file, "taken by "+peer.name, "holds the cluster CA key and secret")
	t.Logf("snapshot save through %s:\n%s", peer.name, out)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v, mode %v; want it 0600", err, fi)
	}
	out = l.mustShoal("snapshot", "status", file)
	contains(t, "snapshot status", out, "valid", "claims")

	// Everything stops: the old machines are gone.
	for _, a := range as {
		l.stopAgent(a)
	}
	fresh := filepath.Join(l.dir, "restored")
	out = l.mustShoal("snapshot", "restore", file, "--data-dir", fresh)
	contains(t, "snapshot restore", out, "Restored "+file+" into "+fresh)
	// A new machine at the first one's address, with a new name.
	r := l.agentAt(0, "restored-0")
	r.dataDir = fresh
	l.start(r, "agent")
	waitFor(t, 30*time.Second, "the restored node serving the old kubeconfig", func() error {
		_, err := l.shoal("get", "configmap", "settings", "-n", "shop", "--kubeconfig", l.kubeconfig)
		return err
	})
	contains(t, "agent log", r.log.String(), "cluster restored from the snapshot "+peer.name)

	// Objects, through the old kubeconfig (the old CA and admin token).
	old := func(args ...string) string {
		t.Helper()
		out, err := l.shoal(append(args, "--kubeconfig", l.kubeconfig)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := old("get", "configmap", "settings", "-n", "shop", "-o", "jsonpath={.data.color}"); got != "blue" {
		t.Fatalf("configmap settings: color %q, want blue", got)
	}
	if got := old("get", "configmap", "flags", "-n", "shop", "-o", "jsonpath={.data.beta}"); got != "true" {
		t.Fatalf("configmap flags: beta %q, want true", got)
	}
	if got := old("get", "secret", "db", "-n", "shop", "-o", "jsonpath={.data.password}"); got != "aHVudGVyMg==" {
		t.Fatalf("secret db: password %q, want base64 of hunter2", got)
	}
	if got := old("get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.clusterIP}"); got != clusterIP {
		t.Fatalf("service web: cluster IP %q, want %q", got, clusterIP)
	}
	contains(t, "deployment", old("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"),
		"2 gcr.io/google-samples/kubernetes-bootcamp:v1")

	// The claims: the cluster IP is still taken.
	taker := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: taker\n  namespace: shop\nspec:\n  clusterIP: %s\n  ports:\n  - port: 80\n", clusterIP)
	out, err = l.applyYAML(r, "taker", taker)
	if err == nil || !strings.Contains(out, "provided IP is already allocated") {
		t.Fatalf("a Service asking for the restored cluster IP %s: %v, want it refused as already allocated:\n%s", clusterIP, err, out)
	}
	// And writes work.
	out = old("create", "deployment", "after", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "-n", "shop")
	contains(t, "a write on the restored cluster", out, "deployment.apps/after created")

	// The identity: the same join token, and another machine joins.
	if got := l.mustShoal("token", "--data-dir", fresh); strings.Fields(got)[4] != strings.Fields(oldToken)[4] {
		t.Fatalf("join token after the restore %q, want the old one %q", got, oldToken)
	}
	j := l.agentAt(1, "restored-1")
	join := strings.Fields(l.mustShoal("token", "--data-dir", fresh))
	l.start(j, "join", join[2], "--token", join[4])

	// The old cluster's Nodes stay until the node lifecycle controller
	// marks them unreachable (as Kubernetes would after a restore).
	waitFor(t, 90*time.Second, "restored-1 Ready, and the old nodes NotReady", func() error {
		nodes, err := l.nodes(r)
		if err != nil {
			return err
		}
		want := map[string]corev1.ConditionStatus{"restored-0": corev1.ConditionTrue, "restored-1": corev1.ConditionTrue,
			"node-0": corev1.ConditionUnknown, "node-1": corev1.ConditionUnknown, "node-2": corev1.ConditionUnknown}
		for _, n := range nodes {
			if w, ok := want[n.Name]; ok && ready(n) == w {
				delete(want, n.Name)
			}
		}
		if len(want) > 0 {
			return fmt.Errorf("still waiting for %v: %s", want, describeNodes(nodes))
		}
		return nil
	})
	out = l.mustKC(j, "get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.clusterIP}")
	if out != clusterIP {
		t.Fatalf("through the joined node: cluster IP %q, want %q", out, clusterIP)
	}
}
