package registry

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func running(name string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: true, Started: ptr.To(true), RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

func waiting(reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func tablePod(mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes-bootcamp-5485cc6795-abcde", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "bootcamp:v1"}}},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIPs: []corev1.PodIP{{IP: "10.42.0.11"}}, PodIP: "10.42.0.11",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{running("app", 0)},
		},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

func row(t *testing.T, obj runtime.Object) []interface{} {
	t.Helper()
	k := kindOf(t, obj)
	cells := k.Row(obj, now)
	if len(cells) != len(k.Columns) {
		t.Fatalf("%s: %d cells for %d columns", k.Kind, len(cells), len(k.Columns))
	}
	return cells
}

func TestPodRows(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		want []interface{}
	}{
		{"running", tablePod(nil),
			[]interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "1/1", "Running", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"pending unscheduled", tablePod(func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status = corev1.PodStatus{Phase: corev1.PodPending}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"container creating", tablePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("ContainerCreating", 0)}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "ContainerCreating", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"image pull backoff", tablePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("ImagePullBackOff", 0)}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "ImagePullBackOff", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"crash loop", tablePod(func(p *corev1.Pod) {
			cs := waiting("CrashLoopBackOff", 3)
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(30 * time.Second)}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "CrashLoopBackOff", "3 (30s ago)", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"restarted and running", tablePod(func(p *corev1.Pod) {
			cs := running("app", 2)
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137, FinishedAt: ago(90 * time.Second)}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "1/1", "Running", "2 (90s ago)", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"completed", tablePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0}}}}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "Completed", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"exit code without reason", tablePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "ExitCode:2", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"terminating", tablePod(func(p *corev1.Pod) {
			ts := ago(time.Second)
			p.DeletionTimestamp = &ts
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "1/1", "Terminating", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"init containers", tablePod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting("PodInitializing", 0)}
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "0/1", "Init:0/1", "0", "5m", "10.42.0.11", "node-a", "<none>", "<none>"}},
		{"readiness gates", tablePod(func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
			p.Status.NominatedNodeName = "node-b"
		}), []interface{}{"kubernetes-bootcamp-5485cc6795-abcde", "1/1", "Running", "0", "5m", "10.42.0.11", "node-a", "node-b", "0/1"}},
	}
	for _, c := range cases {
		if got := row(t, c.pod); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}

func TestColumnNames(t *testing.T) {
	want := map[string][]string{
		"pods":                   {"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"},
		"services":               {"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"},
		"deployments":            {"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"},
		"replicasets":            {"Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"},
		"replicationcontrollers": {"Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"},
		"nodes":                  {"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime", "Gossip", "Raft-Role"},
		"namespaces":             {"Name", "Status", "Age"},
		"events":                 {"Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"},
		"endpoints":              {"Name", "Endpoints", "Age"},
		"configmaps":             {"Name", "Data", "Age"},
		"secrets":                {"Name", "Type", "Data", "Age"},
		"endpointslices":         {"Name", "AddressType", "Ports", "Endpoints", "Age"},
		"leases":                 {"Name", "Holder", "Age"},
		"ingresses":              {"Name", "Class", "Hosts", "Address", "Ports", "Age"},
		"ingressclasses":         {"Name", "Controller", "Parameters", "Age"},
	}
	for _, k := range All() {
		var names []string
		for _, c := range k.Columns {
			names = append(names, c.Name)
			if c.Description == "" {
				t.Errorf("%s column %s has no description", k.Resource, c.Name)
			}
			if (c.Name == "Name") != (c.Format == "name") {
				t.Errorf("%s column %s format %q", k.Resource, c.Name, c.Format)
			}
		}
		if !reflect.DeepEqual(names, want[k.Resource]) {
			t.Errorf("%s columns = %v", k.Resource, names)
		}
	}
	pk, _ := Lookup("", "v1", "pods")
	for i, c := range pk.Columns {
		if want := int32(0); i >= 5 {
			want = 1
			if c.Priority != want {
				t.Errorf("pods column %s priority %d", c.Name, c.Priority)
			}
		} else if c.Priority != want {
			t.Errorf("pods column %s priority %d", c.Name, c.Priority)
		}
	}
}

func TestServiceRows(t *testing.T) {
	base := func(mod func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kubernetes-bootcamp", CreationTimestamp: ago(2 * time.Hour)},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"},
				Selector: labelsApp("kubernetes-bootcamp"),
				Ports:    []corev1.ServicePort{{Port: 8080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		mod(s)
		return s
	}
	cases := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{"nodeport", base(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30797 }),
			[]interface{}{"kubernetes-bootcamp", "NodePort", "10.43.0.20", "<none>", "8080:30797/TCP", "120m", "app=kubernetes-bootcamp"}},
		{"clusterip two ports", base(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP})
		}), []interface{}{"kubernetes-bootcamp", "ClusterIP", "10.43.0.20", "<none>", "8080/TCP,53/UDP", "120m", "app=kubernetes-bootcamp"}},
		{"loadbalancer pending", base(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 31000
		}),
			[]interface{}{"kubernetes-bootcamp", "LoadBalancer", "10.43.0.20", "<pending>", "8080:31000/TCP", "120m", "app=kubernetes-bootcamp"}},
		{"loadbalancer ingress", base(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
		}), []interface{}{"kubernetes-bootcamp", "LoadBalancer", "10.43.0.20", "192.0.2.10", "8080/TCP", "120m", "app=kubernetes-bootcamp"}},
		{"headless no ports", base(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports, s.Spec.Selector = "None", []string{"None"}, nil, nil
		}), []interface{}{"kubernetes-bootcamp", "ClusterIP", "None", "<none>", "<none>", "120m", "<none>"}},
		{"externalname", base(func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		}), []interface{}{"kubernetes-bootcamp", "ExternalName", "<none>", "db.example.com", "<none>", "120m", "<none>"}},
	}
	for _, c := range cases {
		if got := row(t, c.svc); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}

func TestWorkloadRows(t *testing.T) {
	d := deployment(func(d *appsv1.Deployment) {
		d.CreationTimestamp = ago(90 * time.Second)
		d.Spec.Replicas = ptr.To[int32](3)
		d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	})
	want := []interface{}{"web", "2/3", int64(3), int64(2), "90s", "web", "nginx:1.25", "app=web"}
	if got := row(t, d); !reflect.DeepEqual(got, want) {
		t.Errorf("deployment:\n got %#v\nwant %#v", got, want)
	}

	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5485cc6795", CreationTimestamp: ago(3 * 24 * time.Hour)},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Template: d.Spec.Template,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5485cc6795"}}},
		Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1},
	}
	want = []interface{}{"web-5485cc6795", int64(2), int64(2), int64(1), "3d", "web", "nginx:1.25", "app=web,pod-template-hash=5485cc6795"}
	if got := row(t, rs); !reflect.DeepEqual(got, want) {
		t.Errorf("replicaset:\n got %#v\nwant %#v", got, want)
	}

	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", CreationTimestamp: ago(10 * time.Minute)},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: labelsApp("nginx"), Template: &d.Spec.Template},
		Status:     corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 3},
	}
	want = []interface{}{"nginx", int64(3), int64(3), int64(3), "10m", "web", "nginx:1.25", "app=nginx"}
	if got := row(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("rc:\n got %#v\nwant %#v", got, want)
	}
}

func TestNodeRows(t *testing.T) {
	node := func(mod func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", CreationTimestamp: ago(26 * time.Hour)},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: "node-a"}},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.32.4-shoal", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.0.0"},
			},
		}
		mod(n)
		return n
	}
	cases := []struct {
		name string
		node *corev1.Node
		want []interface{}
	}{
		{"ready", node(func(*corev1.Node) {}),
			[]interface{}{"node-a", "Ready", "<none>", "26h", "v1.32.4-shoal", "10.0.0.1", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.0.0", "<unknown>", "<unknown>"}},
		{"cordoned control plane", node(func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true"}
		}), []interface{}{"node-a", "Ready,SchedulingDisabled", "control-plane,etcd", "26h", "v1.32.4-shoal", "10.0.0.1", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.0.0", "<unknown>", "<unknown>"}},
		{"not ready", node(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }),
			[]interface{}{"node-a", "NotReady", "<none>", "26h", "v1.32.4-shoal", "10.0.0.1", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.0.0", "<unknown>", "<unknown>"}},
		{"no conditions", node(func(n *corev1.Node) { n.Status = corev1.NodeStatus{} }),
			[]interface{}{"node-a", "Unknown", "<none>", "26h", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	for _, c := range cases {
		if got := row(t, c.node); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
}

func TestOtherRows(t *testing.T) {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web-0.17a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "default", FieldPath: "spec.containers{web}"},
		Reason:         "Pulled", Message: "Successfully pulled image \"nginx\"\n", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ago(3 * time.Minute), LastTimestamp: ago(40 * time.Second), Count: 2,
	}
	want := []interface{}{"40s", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "kubelet, node-a", "Successfully pulled image \"nginx\"", "3m", int64(2), "web-0.17a"}
	if got := row(t, ev); !reflect.DeepEqual(got, want) {
		t.Errorf("event:\n got %#v\nwant %#v", got, want)
	}

	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Minute)},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.42.0.1"}, {IP: "10.42.0.2"}, {IP: "10.42.1.3"}, {IP: "10.42.1.4"}},
			Ports:     []corev1.EndpointPort{{Port: 8080}},
		}},
	}
	want = []interface{}{"web", "10.42.0.1:8080,10.42.0.2:8080,10.42.1.3:8080 + 1 more...", "60s"}
	if got := row(t, ep); !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %#v\nwant %#v", got, want)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", CreationTimestamp: ago(time.Hour)}, Data: map[string]string{"a": "1", "b": "2"}}
	if got, want := row(t, cm), []interface{}{"cfg", int64(2), "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("configmap: got %#v want %#v", got, want)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pw", CreationTimestamp: ago(time.Hour)}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"p": nil}}
	if got, want := row(t, sec), []interface{}{"pw", "Opaque", int64(1), "60m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("secret: got %#v want %#v", got, want)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(400 * 24 * time.Hour)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if got, want := row(t, ns), []interface{}{"default", "Active", "400d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("namespace: got %#v want %#v", got, want)
	}
	if got := row(t, &corev1.ConfigMap{})[2]; got != "<unknown>" {
		t.Errorf("zero creationTimestamp age = %v", got)
	}
}

func TestFields(t *testing.T) {
	pk, _ := Lookup("", "v1", "pods")
	f := pk.Fields(tablePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyAlways }))
	for k, v := range map[string]string{
		"metadata.name": "kubernetes-bootcamp-5485cc6795-abcde", "metadata.namespace": "default",
		"spec.nodeName": "node-a", "status.phase": "Running", "status.podIP": "10.42.0.11",
		"spec.restartPolicy": "Always", "status.nominatedNodeName": "", "spec.schedulerName": "", "spec.serviceAccountName": "",
	} {
		if got, ok := f[k]; !ok || got != v {
			t.Errorf("pod field %s = %q (%v), want %q", k, got, ok, v)
		}
	}

	ek, _ := Lookup("", "v1", "events")
	ef := ek.Fields(&corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web", Namespace: "default", UID: "u-1"},
		Source:         corev1.EventSource{Component: "deployment-controller"}, Type: "Normal", Reason: "ScalingReplicaSet",
	})
	for k, v := range map[string]string{
		"involvedObject.kind": "Deployment", "involvedObject.name": "web", "involvedObject.namespace": "default",
		"involvedObject.uid": "u-1", "source": "deployment-controller", "type": "Normal", "reason": "ScalingReplicaSet",
	} {
		if ef[k] != v {
			t.Errorf("event field %s = %q, want %q", k, ef[k], v)
		}
	}

	nk, _ := Lookup("", "v1", "nodes")
	if got := nk.Fields(&corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}})["spec.unschedulable"]; got != "true" {
		t.Errorf("node spec.unschedulable = %q", got)
	}
	if _, ok := nk.Fields(&corev1.Node{})["metadata.namespace"]; ok {
		t.Error("cluster-scoped node has metadata.namespace field")
	}
	rk, _ := Lookup("apps", "v1", "replicasets")
	if got := rk.Fields(&appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 3}})["status.replicas"]; got != "3" {
		t.Errorf("rs status.replicas = %q", got)
	}
	sk, _ := Lookup("", "v1", "secrets")
	if got := sk.Fields(&corev1.Secret{Type: corev1.SecretTypeTLS})["type"]; got != "kubernetes.io/tls" {
		t.Errorf("secret type field = %q", got)
	}
}
