package registry

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }

func kindOf(t *testing.T, obj runtime.Object) *Kind {
	t.Helper()
	gvks, _, err := Scheme().ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := ForGVK(gvks[0])
	if !ok {
		t.Fatalf("no kind for %v", gvks[0])
	}
	return k
}

// validateCreate runs the create path: Default, PrepareForCreate, Validate.
func validateCreate(t *testing.T, obj runtime.Object) field.ErrorList {
	t.Helper()
	k := kindOf(t, obj)
	k.Default(obj)
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
	return k.Validate(obj, nil)
}

// validateUpdate runs the update path on copies of old and the mutated new.
func validateUpdate(t *testing.T, old runtime.Object, mutate func(runtime.Object)) field.ErrorList {
	t.Helper()
	k := kindOf(t, old)
	k.Default(old)
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(old)
	}
	if errs := k.Validate(old, nil); len(errs) > 0 {
		t.Fatalf("old object invalid: %v", errs)
	}
	obj := old.DeepCopyObject()
	mutate(obj)
	k.Default(obj)
	if k.PrepareForUpdate != nil {
		k.PrepareForUpdate(obj, old)
	}
	return k.Validate(obj, old)
}

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "7", UID: "u-1"}
}

func labelsApp(v string) map[string]string { return map[string]string{"app": v} }

func deployment(mod func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: meta("web"),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labelsApp("web")},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labelsApp("web")},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
			},
		},
	}
	if mod != nil {
		mod(d)
	}
	return d
}

func pod(mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: meta("web-0"),
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

func service(mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: meta("web"),
		Spec:       corev1.ServiceSpec{Selector: labelsApp("web"), Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func TestValidObjects(t *testing.T) {
	objs := []runtime.Object{
		deployment(nil),
		pod(nil),
		service(nil),
		service(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30797 }),
		service(func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }),
		service(func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "my.database.example.com"}
		}),
		&appsv1.ReplicaSet{ObjectMeta: meta("web-abc"), Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labelsApp("web")}, Template: deployment(nil).Spec.Template}},
		&corev1.ReplicationController{ObjectMeta: meta("web"), Spec: corev1.ReplicationControllerSpec{Template: &deployment(nil).Spec.Template}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24"}}},
		&corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"app.properties": "a=b"}},
		&corev1.Secret{ObjectMeta: meta("pw"), StringData: map[string]string{"password": "x"}},
		&corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.42.0.5"}}, Ports: []corev1.EndpointPort{{Port: 8080}}}}},
		&corev1.Event{ObjectMeta: meta("web-0.1"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "default"}, Reason: "Scheduled"},
	}
	for _, obj := range objs {
		if errs := validateCreate(t, obj); len(errs) != 0 {
			t.Errorf("%T: unexpected errors: %v", obj, errs)
		}
	}
}

type errCase struct {
	name string
	obj  runtime.Object
	// want is the Error() of one of the returned errors ("path: Reason:
	// detail"); "..." elides text.
	want string
}

func checkErrs(t *testing.T, name string, errs field.ErrorList, want string) {
	t.Helper()
	for _, e := range errs {
		if matchElided(e.Error(), want) {
			return
		}
	}
	t.Errorf("%s: want error %q, got %v", name, want, errs)
}

// matchElided reports whether got equals want where each "..." in want
// stands for any text.
func matchElided(got, want string) bool {
	parts := strings.Split(want, "...")
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	rest := got[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(rest, p)
		}
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return rest == ""
}

func TestValidateCreateErrors(t *testing.T) {
	cases := []errCase{
		{"negative replicas", deployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) }),
			"spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"invalid deployment name", deployment(func(d *appsv1.Deployment) { d.Name = "Web_App" }),
			`metadata.name: Invalid value: "Web_App": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character...`},
		{"missing name", deployment(func(d *appsv1.Deployment) { d.Name = "" }),
			"metadata.name: Required value: name or generateName is required"},
		{"missing namespace", deployment(func(d *appsv1.Deployment) { d.Namespace = "" }),
			"metadata.namespace: Required value"},
		{"selector mismatch", deployment(func(d *appsv1.Deployment) { d.Spec.Template.Labels = labelsApp("other") }),
			"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"},
		{"missing selector", deployment(func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			"spec.selector: Required value"},
		{"empty selector", deployment(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }),
			"spec.selector: Invalid value: {}: empty selector is invalid for deployment"},
		{"missing containers", deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil }),
			"spec.template.spec.containers: Required value"},
		{"template restartPolicy", deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`},
		{"bad maxSurge", deployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("abc"))}
		}), "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": must be an integer or percentage (e.g '5%')"},
		{"missing pod containers", pod(func(p *corev1.Pod) { p.Spec.Containers = nil }),
			"spec.containers: Required value"},
		{"missing image", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }),
			"spec.containers[0].image: Required value"},
		{"invalid container name", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" }),
			`spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'...`},
		{"duplicate container name", pod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "busybox"})
		}), `spec.containers[1].name: Duplicate value: "web"`},
		{"port out of range", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000}}
		}), "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"},
		{"negative quantity", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resourceQ("-1Mi")}
		}), `spec.containers[0].resources.limits[memory]: Invalid value: "-1Mi": must be greater than or equal to 0`},
		{"request above limit", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resourceQ("500m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resourceQ("1")},
			}
		}), `spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`},
		{"unknown volume mount", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}), `spec.containers[0].volumeMounts[0].name: Not found: "data"`},
		{"service without ports", service(func(s *corev1.Service) { s.Spec.Ports = nil }),
			"spec.ports: Required value"},
		{"service port zero", service(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }),
			"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
		{"service name not DNS-1035", service(func(s *corev1.Service) { s.Name = "1web" }),
			`metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character...`},
		{"ExternalName without name", service(func(s *corev1.Service) { s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName} }),
			"spec.externalName: Required value"},
		{"nodePort on ClusterIP", service(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 }),
			"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"nodePort out of range", service(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 80 }),
			"spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"},
		{"unnamed ports", service(func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443}) }),
			"spec.ports[0].name: Required value"},
		{"namespace name", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Dev"}},
			`metadata.name: Invalid value: "Dev": a lowercase RFC 1123 label must consist of...`},
		{"namespace on node", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "default"}},
			"metadata.namespace: Forbidden: not allowed on this type"},
		{"rc without selector or labels", &corev1.ReplicationController{ObjectMeta: meta("rc"), Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{Spec: pod(nil).Spec}}}, "spec.selector: Required value"},
		{"rs negative replicas", &appsv1.ReplicaSet{ObjectMeta: meta("rs"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](-2),
			Selector: &metav1.LabelSelector{MatchLabels: labelsApp("web")}, Template: deployment(nil).Spec.Template}},
			"spec.replicas: Invalid value: -2: must be greater than or equal to 0"},
		{"configmap key", &corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"bad key": "x"}},
			`data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.'...`},
		{"tls secret keys", &corev1.Secret{ObjectMeta: meta("tls"), Type: corev1.SecretTypeTLS},
			"data[tls.crt]: Required value"},
		{"event namespace", &corev1.Event{ObjectMeta: meta("e"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "other"}},
			`involvedObject.namespace: Invalid value: "other": does not match event.namespace`},
	}
	for _, c := range cases {
		checkErrs(t, c.name, validateCreate(t, c.obj), c.want)
	}
}

func TestValidateUpdateErrors(t *testing.T) {
	cases := []struct {
		name   string
		old    runtime.Object
		mutate func(runtime.Object)
		want   string // "" means the update is valid
	}{
		{"deployment scale", deployment(nil), func(o runtime.Object) {
			o.(*appsv1.Deployment).Spec.Replicas = ptr.To[int32](4)
		}, ""},
		{"deployment selector immutable", deployment(nil), func(o runtime.Object) {
			d := o.(*appsv1.Deployment)
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
			d.Spec.Template.Labels = d.Spec.Selector.MatchLabels
		}, `spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable`},
		{"resourceVersion required", deployment(nil), func(o runtime.Object) {
			o.(*appsv1.Deployment).ResourceVersion = ""
		}, `metadata.resourceVersion: Invalid value: "": must be specified for an update`},
		{"pod image change", pod(nil), func(o runtime.Object) {
			o.(*corev1.Pod).Spec.Containers[0].Image = "nginx:1.26"
		}, ""},
		{"pod binding", pod(nil), func(o runtime.Object) {
			o.(*corev1.Pod).Spec.NodeName = "node-a"
		}, ""},
		{"pod spec change", pod(nil), func(o runtime.Object) {
			o.(*corev1.Pod).Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
		}, "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`..."},
		{"service clusterIP immutable", service(func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.10" }), func(o runtime.Object) {
			s := o.(*corev1.Service)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", nil
		}, `spec.clusterIPs[0]: Invalid value: ["10.43.0.11"]: may not change once set`},
		{"service update keeps allocated values", service(func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.43.0.10"
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30797
		}), func(o runtime.Object) {
			// A PUT of the user's manifest, without the allocated fields.
			s := o.(*corev1.Service)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
			s.Spec.Ports[0].NodePort = 0
		}, ""},
		{"secret type immutable", &corev1.Secret{ObjectMeta: meta("s")}, func(o runtime.Object) {
			o.(*corev1.Secret).Type = corev1.SecretTypeBasicAuth
			o.(*corev1.Secret).Data = map[string][]byte{"username": []byte("u")}
		}, `type: Invalid value: "kubernetes.io/basic-auth": field is immutable`},
	}
	for _, c := range cases {
		errs := validateUpdate(t, c.old, c.mutate)
		if c.want == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected errors: %v", c.name, errs)
			}
			continue
		}
		checkErrs(t, c.name, errs, c.want)
	}
}
