package cli

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestCreateGetDescribeIngress: create ingress builds what kubectl's does
// (Exact paths, a trailing * for Prefix, TLS hosts per secret), get shows
// kubectl's columns and describe its rules table with the endpoints.
func TestCreateGetDescribeIngress(t *testing.T) {
	cs, ta, run := realAPIApp(t)
	ctx := context.Background()
	err := run("create", "ingress", "app", "--class", "shoal",
		"--rule", "app.example.test/=web:80,tls=app-tls", "--rule", "app.example.test/v2*=web-v2:http", "--rule", "/static*=files:8080")
	if err != nil {
		t.Fatalf("create ingress: %v\n%s", err, ta.stderr.String())
	}
	if got := ta.stdout.String(); got != "ingress.networking.k8s.io/app created\n" {
		t.Errorf("create printed %q", got)
	}
	ing, err := cs.NetworkingV1().Ingresses("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := ing.Spec.Rules
	if *ing.Spec.IngressClassName != "shoal" || len(r) != 2 || r[0].Host != "app.example.test" || len(r[0].HTTP.Paths) != 2 || r[1].Host != "" {
		t.Fatalf("rules %+v", r)
	}
	if p := r[0].HTTP.Paths[0]; p.Path != "/" || *p.PathType != "Exact" || p.Backend.Service.Name != "web" || p.Backend.Service.Port.Number != 80 {
		t.Errorf("first path %+v", p)
	}
	if p := r[0].HTTP.Paths[1]; p.Path != "/v2" || *p.PathType != "Prefix" || p.Backend.Service.Port.Name != "http" {
		t.Errorf("second path %+v", p)
	}
	if tls := ing.Spec.TLS; len(tls) != 1 || tls[0].SecretName != "app-tls" || tls[0].Hosts[0] != "app.example.test" {
		t.Errorf("tls %+v", tls)
	}

	if err := run("create", "ingress", "bad", "--rule", "app.example.test=web"); err == nil ||
		!strings.Contains(err.Error(), "rule app.example.test=web is invalid and should be in format host/path=svcname:svcport[,tls[=secret]]") {
		t.Errorf("bad rule: %v", err)
	}

	if err := run("get", "ing"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(ta.stdout.String()), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME CLASS HOSTS ADDRESS PORTS AGE" ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "app shoal app.example.test 80, 443 ") {
		t.Errorf("get ing:\n%s", ta.stdout.String())
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := run("describe", "ingress", "app"); err != nil {
		t.Fatalf("describe: %v\n%s", err, ta.stderr.String())
	}
	out := ta.stdout.String()
	for _, want := range []string{"Ingress Class:    shoal", "TLS:\n  app-tls terminates app.example.test", "Rules:\n  Host", "app.example.test", "/v2", "web:80 (", "web-v2:http (<error: services \"web-v2\" not found>)"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
