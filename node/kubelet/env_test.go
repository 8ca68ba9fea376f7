package kubelet

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// mapObjects serves configmaps and secrets from maps keyed by name.
type mapObjects struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (m mapObjects) configMap(_, name string) (*corev1.ConfigMap, error) {
	if cm := m.cms[name]; cm != nil {
		return cm, nil
	}
	return nil, &notFoundError{kind: "configmap", name: name}
}

func (m mapObjects) secret(_, name string) (*corev1.Secret, error) {
	if s := m.secrets[name]; s != nil {
		return s, nil
	}
	return nil, &notFoundError{kind: "secret", name: name}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$(A", "$(A"},
		{"$A", "$A"},
		{"$(EMPTY)x", "x"},
		{"$$$(A)", "$a"},
		{"($(A))", "(a)"},
	} {
		if got := expand(tc.in, vars); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMakeEnv(t *testing.T) {
	objs := mapObjects{
		cms: map[string]*corev1.ConfigMap{
			"cfg": {Data: map[string]string{"color": "blue", "size": "L", "bad-name": "x"}},
		},
		secrets: map[string]*corev1.Secret{
			"creds": {Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")}},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "u-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "default"},
	}
	mem := resource.MustParse("64Mi")
	ctr := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: mem, corev1.ResourceCPU: resource.MustParse("1500m")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
	}}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	res := func(r, div string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{Resource: r}
		if div != "" {
			s.Divisor = resource.MustParse(div)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	for _, tc := range []struct {
		name    string
		env     []corev1.EnvVar
		from    []corev1.EnvFromSource
		want    []string
		wantErr string
	}{
		{name: "values and expansion", env: []corev1.EnvVar{
			{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-y"}, {Name: "C", Value: "$(LATER)"}, {Name: "LATER", Value: "z"},
			{Name: "A", Value: "again"},
		}, want: []string{"A=again", "B=x-y", "C=$(LATER)", "LATER=z"}},
		{name: "field refs", env: []corev1.EnvVar{
			{Name: "N", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")},
			{Name: "IP", ValueFrom: field("status.podIP")}, {Name: "HOST", ValueFrom: field("status.hostIP")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "SA", ValueFrom: field("spec.serviceAccountName")},
		}, want: []string{"N=web", "NS=prod", "UID=u-1", "APP=web", "NOTE=hi", "IP=10.42.0.5", "HOST=192.0.2.1", "NODE=node-a", "SA=default"}},
		{name: "bad field", env: []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.nope")}}, wantErr: "unsupported fieldPath: spec.nope"},
		{name: "resource refs", env: []corev1.EnvVar{
			{Name: "MEM", ValueFrom: res("limits.memory", "")}, {Name: "MEMMI", ValueFrom: res("limits.memory", "1Mi")},
			{Name: "CPU", ValueFrom: res("limits.cpu", "")}, {Name: "CPUM", ValueFrom: res("limits.cpu", "1m")},
			{Name: "REQ", ValueFrom: res("requests.cpu", "1m")}, {Name: "EPH", ValueFrom: res("limits.ephemeral-storage", "1Gi")},
		}, want: []string{"MEM=67108864", "MEMMI=64", "CPU=2", "CPUM=1500", "REQ=250", "EPH=10"}},
		{name: "configmap and secret keys", env: []corev1.EnvVar{
			{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
			{Name: "USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "user"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: ptr.To(true)}}},
			{Name: "OPTKEY", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nokey", Optional: ptr.To(true)}}},
		}, want: []string{"COLOR=blue", "USER=admin"}},
		{name: "missing configmap", env: []corev1.EnvVar{
			{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}},
		}, wantErr: `configmap "nope" not found`},
		{name: "missing key", env: []corev1.EnvVar{
			{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		}, wantErr: "couldn't find key token in Secret prod/creds"},
		{name: "envFrom with prefix, env overrides and expands", from: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
		}, env: []corev1.EnvVar{{Name: "size", Value: "$(color)-$(DB_user)"}},
			want: []string{"bad-name=x", "color=blue", "size=blue-admin", "DB_pass=s3cret", "DB_user=admin"}},
		{name: "missing envFrom secret", from: []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
		}, wantErr: `secret "gone" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ctr
			c.Env, c.EnvFrom = tc.env, tc.from
			in := &envInput{pod: pod, container: &c, podIP: "10.42.0.5", hostIP: "192.0.2.1", objs: objs,
				nodeAllocatable: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("10Gi")}}
			got, err := makeEnv(in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestEnvFromSkipsInvalidNames(t *testing.T) {
	objs := mapObjects{cms: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"ok": "1", "1bad": "2", "a=b": "3"}}}}
	c := corev1.Container{Name: "c", EnvFrom: []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
	}}
	in := &envInput{pod: &corev1.Pod{}, container: &c, objs: objs}
	got, err := makeEnv(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"ok=1"}) || !slices.Equal(in.invalidNamesSkipped, []string{"1bad", "a=b"}) {
		t.Errorf("env %q, skipped %q; want [ok=1] and 1bad, a=b skipped", got, in.invalidNamesSkipped)
	}
}

func TestExpandCommandAndArgs(t *testing.T) {
	env := []string{"GREETING=hello", "WHO=world"}
	got := expandAll([]string{"sh", "-c", "echo $(GREETING) $(WHO) $$(HOME) $(NOPE)"}, env)
	want := []string{"sh", "-c", "echo hello world $(HOME) $(NOPE)"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if expandAll(nil, env) != nil {
		t.Error("nil command must stay nil (image entrypoint)")
	}
}
