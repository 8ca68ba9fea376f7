package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTutorialWithShoal walks the same tutorial with shoal's own CLI only.
func TestTutorialWithShoal(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short")
	}
	pc := startPodCluster(t, 3)
	kc := []string{"--kubeconfig", pc.kubeconfig}
	s := func(args ...string) string {
		t.Helper()
		return pc.mustShoal(append(args, kc...)...)
	}
	app := bootcamp

	contains(t, "get nodes", s("get", "nodes"), "NAME", "STATUS", "ROLES", "AGE", "VERSION", "node-0", "node-1", "node-2")
	contains(t, "create deployment", s("create", "deployment", app, "--image=gcr.io/google-samples/kubernetes-bootcamp:v1"), "deployment.apps/"+app+" created")
	s("rollout", "status", "deployments/"+app, "--timeout", "90s")
	contains(t, "wait", s("wait", "--for=condition=Available", "deployment/"+app, "--timeout", "90s"), "deployment.apps/"+app+" condition met")
	contains(t, "get deployments", s("get", "deployments"), "1/1")

	kp := pc.lab.start(pc.lab.nodes[0], nil, shoalBin, "proxy", "--port=8001", "--kubeconfig", pc.kubeconfig)
	defer kp.Process.Kill()
	waitFor(t, 20*time.Second, "shoal proxy answering /version", func() error {
		out, err := pc.sh(0, "timeout 3 busybox wget -qO- http://127.0.0.1:8001/version")
		if err == nil && !strings.Contains(out, `"minor": "32"`) {
			err = fmt.Errorf("%q", out)
		}
		return err
	})
	podName := strings.TrimSpace(s("get", "pods", "-o", `go-template={{range .items}}{{.metadata.name}}{{"\n"}}{{end}}`))
	answer, err := pc.sh(0, "timeout 5 busybox wget -qO- http://127.0.0.1:8001/api/v1/namespaces/default/pods/"+podName+":8080/proxy/")
	if err != nil || !strings.Contains(answer, "Running on: "+podName+" | v=v1") {
		t.Fatalf("curl the pod through shoal proxy: %v %q", err, answer)
	}

	contains(t, "describe pods", s("describe", "pods"), "Name:", podName, "Controlled By:", "Running", "Events:")
	contains(t, "logs", s("logs", podName), "Kubernetes Bootcamp App Started At")
	contains(t, "exec env", pc.mustShoal(append(append([]string{"exec"}, kc...), podName, "--", "env")...), "HOSTNAME="+podName, "KUBERNETES_SERVICE_HOST=10.43.0.1")
	pc.interactiveShellWith(t, shoalBin, "exec", "-ti", podName, "--kubeconfig", pc.kubeconfig, "--", "sh")

	contains(t, "expose", s("expose", "deployment/"+app, "--type=NodePort", "--port", "8080"), "service/"+app+" exposed")
	out := s("get", "services")
	if !regexp.MustCompile(app + `\s+NodePort\s+10\.43\.\S+\s+<none>\s+8080:3\d{4}/TCP`).MatchString(out) {
		t.Fatalf("get services:\n%s", out)
	}
	waitFor(t, 30*time.Second, "describe service listing the endpoint", func() error {
		out, err := pc.shoal(append([]string{"describe", "services/" + app}, kc...)...)
		if err == nil && !strings.Contains(out, ":8080") {
			err = fmt.Errorf("%s", out)
		}
		return err
	})
	nodePort := strings.TrimSpace(s("get", "services/"+app, "-o", "go-template={{(index .spec.ports 0).nodePort}}"))
	waitFor(t, 20*time.Second, "curl NODE_IP:NODE_PORT", func() error {
		out, err := pc.sh(1, "timeout 3 busybox wget -qO- http://"+pc.lab.NodeIP(0)+":"+nodePort)
		if err == nil && !strings.Contains(out, "Running on: "+podName) {
			err = fmt.Errorf("%q", out)
		}
		return err
	})
	contains(t, "describe deployment", s("describe", "deployment"), "StrategyType:", "RollingUpdate", "NewReplicaSet:")
	contains(t, "label", s("label", "pods", podName, "version=v1"), "pod/"+podName+" labeled")
	contains(t, "get pods -l version=v1", s("get", "pods", "-l", "version=v1"), podName)

	contains(t, "get rs", s("get", "rs"), "DESIRED", "CURRENT", "READY")
	// Scale while `get pods -w` watches: one header, the pod, then rows for
	// the new pods as they come.
	watched, _ := pc.sh(0, fmt.Sprintf("timeout 8 %[1]s get pods -w --kubeconfig %[2]s & sleep 2; %[1]s scale deployments/%[3]s --replicas=4 --kubeconfig %[2]s; wait; true", shoalBin, pc.kubeconfig, app))
	if strings.Count(watched, "NAME") != 1 || strings.Count(watched, app+"-") < 4 || !strings.Contains(watched, "scaled") {
		t.Fatalf("get pods -w while scaling to 4: want one header, the pod and rows for the new ones:\n%s", watched)
	}
	s("rollout", "status", "deployments/"+app, "--timeout", "90s")
	contains(t, "get pods -o wide", s("get", "pods", "-o", "wide"), "NODE", "10.42.")

	// The v2 image, pulled by hand on one node through its mirrors.
	pulled, err := pc.sh(0, shoalBin+" images pull docker.io/jocatalin/kubernetes-bootcamp:v2 --data-dir "+pc.agents[0].dataDir)
	if err != nil || !strings.Contains(pulled, "Pulling docker.io/jocatalin/kubernetes-bootcamp:v2...") || !strings.Contains(pulled, "pulled docker.io/jocatalin/kubernetes-bootcamp:v2 (sha256:") {
		t.Fatalf("images pull: %v\n%s", err, pulled)
	}
	contains(t, "set image", s("set", "image", "deployments/"+app, app+"=docker.io/jocatalin/kubernetes-bootcamp:v2"), "image updated")
	contains(t, "rollout status", s("rollout", "status", "deployments/"+app, "--timeout", "120s"), "successfully rolled out")
	s("set", "image", "deployments/"+app, app+"=gcr.io/google-samples/kubernetes-bootcamp:v10")
	waitFor(t, 90*time.Second, "ImagePullBackOff in get pods", func() error {
		out, err := pc.shoal(append([]string{"get", "pods"}, kc...)...)
		if err == nil && !strings.Contains(out, "ImagePullBackOff") && !strings.Contains(out, "ErrImagePull") {
			err = fmt.Errorf("%s", out)
		}
		return err
	})
	contains(t, "rollout undo", s("rollout", "undo", "deployments/"+app), "rolled back")
	s("rollout", "status", "deployments/"+app, "--timeout", "120s")
	waitFor(t, 60*time.Second, "4 pods on v2 again", func() error {
		for _, a := range pc.answers(t, "app="+app) {
			if !strings.Contains(a, "v=v2") {
				return fmt.Errorf("a pod answers %q", a)
			}
		}
		pods, err := pc.podList("app=" + app)
		if err == nil && len(pods) != 4 {
			err = fmt.Errorf("%d pods", len(pods))
		}
		return err
	})
	contains(t, "delete", s("delete", "deployments/"+app, "services/"+app), `deployment.apps "`+app+`" deleted`, `service "`+app+`" deleted`)
}
