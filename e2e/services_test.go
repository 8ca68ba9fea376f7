package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// TestServices runs the seed's four Service types on three real nodes:
// a ClusterIP reached by name from a pod on every node and balanced over
// all pods, NodePort and LoadBalancer on every node's address, an
// ExternalName CNAME, a headless Service's pod IPs, a node's DNS refusing
// a machine that is not of the cluster, and pods on different nodes
// reaching each other by pod IP.
func TestServices(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "--replicas=3", "--port=8080"}, kc...)...)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)
	pods, err := pc.podList("app=" + bootcamp)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	byNode := map[string]corev1.Pod{}
	for _, p := range pods {
		names[p.Name] = true
		byNode[p.Spec.NodeName] = p
	}

	pc.podFromYAML(t, `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: kubernetes-bootcamp
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
spec:
  type: NodePort
  selector:
    app: kubernetes-bootcamp
  ports:
  - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web-lb
spec:
  type: LoadBalancer
  selector:
    app: kubernetes-bootcamp
  ports:
  - port: 9090
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector:
    app: kubernetes-bootcamp
  ports:
  - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: elsewhere
spec:
  type: ExternalName
  externalName: web.default.svc.cluster.local
`)

	// ask runs wget in a pod and returns which pod answered.
	ask := func(pod, url string) (string, error) {
		out, err := pc.shoal("exec", pod, "--kubeconfig", pc.kubeconfig, "--", "timeout", "5", "wget", "-qO-", url)
		if err != nil {
			return "", err
		}
		i := strings.Index(out, "Running on: ")
		if i < 0 {
			return "", fmt.Errorf("answer %q", out)
		}
		return strings.Fields(out[i+len("Running on: "):])[0], nil
	}

	t.Run("clusterip-by-name-from-every-node", func(t *testing.T) {
		for node, client := range byNode {
			for _, url := range []string{"http://web.default.svc.cluster.local:80/", "http://web/"} {
				seen := map[string]bool{}
				waitFor(t, 60*time.Second, fmt.Sprintf("%s from a pod on %s reaching all pods", url, node), func() error {
					for i := 0; i < 6; i++ {
						who, err := ask(client.Name, url)
						if err != nil {
							return err
						}
						seen[who] = true
					}
					if len(seen) != len(names) {
						return fmt.Errorf("answered by %v of %v", seen, names)
					}
					return nil
				})
			}
		}
	})

	svc := func(name string) *corev1.Service {
		out := pc.mustShoal(append([]string{"get", "svc", name, "-o", "json"}, kc...)...)
		var s corev1.Service
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}

	t.Run("nodeport-on-every-node", func(t *testing.T) {
		np := svc("web-np").Spec.Ports[0].NodePort
		if np < 30000 || np > 32767 {
			t.Fatalf("nodePort %d", np)
		}
		for i := range pc.agents {
			from := (i + 1) % len(pc.agents)
			url := fmt.Sprintf("http://%s:%d/", pc.lab.NodeIP(i), np)
			waitFor(t, 30*time.Second, "NodePort on "+pc.lab.NodeIP(i), func() error {
				out, err := pc.sh(from, "timeout 3 busybox wget -qO- "+url)
				if err != nil || !strings.Contains(out, "Hello Kubernetes bootcamp") {
					return fmt.Errorf("%v %q", err, out)
				}
				return nil
			})
		}
	})

	t.Run("loadbalancer-on-every-node", func(t *testing.T) {
		waitFor(t, 30*time.Second, "the LoadBalancer's ingress listing every node", func() error {
			ing := svc("web-lb").Status.LoadBalancer.Ingress
			if len(ing) != len(pc.agents) {
				return fmt.Errorf("ingress %+v", ing)
			}
			return nil
		})
		for i := range pc.agents {
			url := fmt.Sprintf("http://%s:9090/", pc.lab.NodeIP(i))
			waitFor(t, 30*time.Second, "LoadBalancer on "+pc.lab.NodeIP(i), func() error {
				out, err := pc.sh((i+1)%len(pc.agents), "timeout 3 busybox wget -qO- "+url)
				if err != nil || !strings.Contains(out, "Hello Kubernetes bootcamp") {
					return fmt.Errorf("%v %q", err, out)
				}
				return nil
			})
		}
		out := pc.mustShoal(append([]string{"get", "svc", "web-lb"}, kc...)...)
		contains(t, "get svc web-lb", out, "LoadBalancer", pc.lab.NodeIP(0), "9090:")
	})

	t.Run("describe-shows-endpoints", func(t *testing.T) {
		waitFor(t, 30*time.Second, "describe service listing the pods as endpoints", func() error {
			out, err := pc.shoal(append([]string{"describe", "service", "web"}, kc...)...)
			if err != nil {
				return err
			}
			for _, p := range pods {
				if !strings.Contains(out, p.Status.PodIP+":8080") {
					return fmt.Errorf("no %s:8080 in:\n%s", p.Status.PodIP, out)
				}
			}
			return nil
		})
	})

	client := pods[0].Name
	t.Run("externalname-cname", func(t *testing.T) {
		out, err := pc.shoal("exec", client, "--kubeconfig", pc.kubeconfig, "--", "nslookup", "-type=CNAME", "elsewhere.default.svc.cluster.local")
		if err != nil || !strings.Contains(out, "web.default.svc.cluster.local") {
			t.Fatalf("CNAME of the ExternalName service: %v\n%s", err, out)
		}
	})

	t.Run("headless-pod-ips", func(t *testing.T) {
		waitFor(t, 30*time.Second, "the headless name resolving to every pod", func() error {
			out, err := pc.shoal("exec", client, "--kubeconfig", pc.kubeconfig, "--", "nslookup", "web-headless.default.svc.cluster.local")
			if err != nil {
				return err
			}
			for _, p := range pods {
				if !strings.Contains(out, p.Status.PodIP) {
					return fmt.Errorf("no %s in:\n%s", p.Status.PodIP, out)
				}
			}
			return nil
		})
	})

	// The hub namespace stands for another machine on the nodes' network:
	// it reaches node 0's address but is neither a pod nor a node.
	t.Run("dns-refuses-outsiders", func(t *testing.T) {
		server := net.JoinHostPort(pc.lab.NodeIP(0), "53")
		query := func(from, name string) (*dns.Msg, error) {
			conn, err := dialIn(from)(context.Background(), "udp", server)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			req := new(dns.Msg)
			req.SetQuestion(name, dns.TypeA)
			c := &dns.Client{Timeout: 5 * time.Second}
			resp, _, err := c.ExchangeWithConn(req, &dns.Conn{Conn: conn})
			return resp, err
		}
		resp, err := query(pc.lab.nodes[0], "web.default.svc.cluster.local.")
		if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
			t.Fatalf("the node asking its own dnsd for web: %v %v", resp, err)
		}
		for _, name := range []string{"web.default.svc.cluster.local.", "example.test."} {
			resp, err := query(pc.lab.hub, name)
			if err != nil {
				t.Fatalf("outsider asking for %s: %v", name, err)
			}
			if resp.Rcode != dns.RcodeRefused || len(resp.Answer) != 0 {
				t.Fatalf("outsider asking for %s: rcode %s with %d answers, want REFUSED and none",
					name, dns.RcodeToString[resp.Rcode], len(resp.Answer))
			}
		}
	})

	t.Run("pod-to-pod-across-nodes", func(t *testing.T) {
		for _, a := range pods {
			for _, b := range pods {
				if a.Spec.NodeName == b.Spec.NodeName {
					continue
				}
				who, err := ask(a.Name, "http://"+b.Status.PodIP+":8080/")
				if err != nil || who != b.Name {
					t.Fatalf("%s (on %s) to %s (on %s) by pod IP: %q %v", a.Name, a.Spec.NodeName, b.Name, b.Spec.NodeName, who, err)
				}
			}
		}
	})
}

// TestServiceThroughChanges hammers a ClusterIP Service from a pod while
// the deployment behind it scales down and rolls to a new version: once
// the endpoints have settled every request succeeds, and answers come only
// from pods that still exist.
func TestServiceThroughChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	pc.mustShoal(append([]string{"create", "deployment", bootcamp, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1", "--replicas=3", "--port=8080"}, kc...)...)
	pc.mustShoal(append([]string{"expose", "deployment/" + bootcamp, "--port", "80", "--target-port", "8080", "--name", "web"}, kc...)...)
	pc.podFromYAML(t, `apiVersion: v1
kind: Pod
metadata:
  name: hammer
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while true; do timeout 2 wget -qO- http://web/ 2>&1 || echo FAILED; sleep 0.1; done"]
`)
	pc.waitPod("default", "hammer", "Running", 60*time.Second)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)

	pc.mustShoal(append([]string{"scale", "deployments/" + bootcamp, "--replicas=1"}, kc...)...)
	pc.mustShoal(append([]string{"set", "image", "deployments/" + bootcamp, bootcamp + "=gcr.io/google-samples/kubernetes-bootcamp:v2"}, kc...)...)
	pc.mustShoal(append([]string{"rollout", "status", "deployments/" + bootcamp, "--timeout", "120s"}, kc...)...)
	waitFor(t, 30*time.Second, "one ready v2 pod", func() error {
		pods, err := pc.podList("app=" + bootcamp)
		if err != nil {
			return err
		}
		if len(pods) != 1 || readyPods(pods) != 1 || !strings.HasSuffix(pods[0].Spec.Containers[0].Image, ":v2") {
			return fmt.Errorf("%d pods, %d ready", len(pods), readyPods(pods))
		}
		return nil
	})
	time.Sleep(2 * time.Second) // the endpoints and proxy rules settle
	before := pc.mustShoal(append([]string{"logs", "hammer"}, kc...)...)
	time.Sleep(3 * time.Second)
	after := pc.mustShoal(append([]string{"logs", "hammer"}, kc...)...)
	settled := strings.TrimPrefix(after, before)
	pods, _ := pc.podList("app=" + bootcamp)
	live := pods[0].Name
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(settled), "\n") {
		if line == "" {
			continue
		}
		n++
		if !strings.Contains(line, "Running on: "+live+" | v=v2") {
			t.Fatalf("after the endpoints settled a request got %q; want the live pod %s at v2", line, live)
		}
	}
	if n < 10 {
		t.Fatalf("only %d requests in 3s after settling:\n%s", n, settled)
	}
}
