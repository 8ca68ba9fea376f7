package kubelet

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoal-project/shoal/node/follow"
)

// serviceEnv is the environment Kubernetes gives every container about
// Services: the master service's KUBERNETES_SERVICE_HOST/PORT always, and,
// with enableServiceLinks (the default), docker-link style variables for
// every Service of the pod's namespace that has a ClusterIP. svcs is
// indexed by namespace.
func serviceEnv(svcs *follow.Follower[corev1.Service], pod *corev1.Pod) []string {
	var env []string
	add := func(svc *corev1.Service) {
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			return
		}
		name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		ip := svc.Spec.ClusterIP
		first := svc.Spec.Ports[0]
		env = append(env, name+"_SERVICE_HOST="+ip, name+"_SERVICE_PORT="+strconv.Itoa(int(first.Port)))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				env = append(env, name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))+"="+strconv.Itoa(int(p.Port)))
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		env = append(env, name+"_PORT="+proto+"://"+ip+":"+strconv.Itoa(int(first.Port)))
		for _, p := range svc.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			prefix := name + "_PORT_" + strconv.Itoa(int(p.Port)) + "_" + strings.ToUpper(pr)
			env = append(env, prefix+"="+pr+"://"+ip+":"+strconv.Itoa(int(p.Port)),
				prefix+"_PROTO="+pr, prefix+"_PORT="+strconv.Itoa(int(p.Port)), prefix+"_ADDR="+ip)
		}
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		for _, svc := range svcs.ByIndex(follow.IndexByNamespace, pod.Namespace) {
			if !(pod.Namespace == "default" && svc.Name == "kubernetes") {
				add(svc)
			}
		}
	}
	if svc, ok := svcs.Get("default", "kubernetes"); ok {
		add(svc)
	}
	return env
}
