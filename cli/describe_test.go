package cli

import (
	"strings"
	"testing"
)

func seedDescribe(f *fakeAPI) {
	cm := findResource("", "configmaps")
	for _, n := range []string{"cfg-a", "cfg-b", "other"} {
		f.put(cm, "default", map[string]interface{}{
			"metadata": map[string]interface{}{"name": n, "labels": map[string]interface{}{"tier": n[:3]}},
			"data":     map[string]interface{}{"key": "value-" + n},
		})
	}
	f.put(findResource("example.com", "widgets"), "default", map[string]interface{}{
		"metadata": map[string]interface{}{"name": "w"},
		"spec":     map[string]interface{}{"size": int64(3)},
	})
}

func TestDescribe(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seedDescribe(f)

	if err := run("describe", "configmap", "cfg-a"); err != nil {
		t.Fatalf("%v\n%s", err, ta.stderr.String())
	}
	out := ta.stdout.String()
	for _, want := range []string{"Name:         cfg-a\n", "Namespace:    default\n", "value-cfg-a"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}

	// A name that matches nothing exactly is a prefix, as with kubectl.
	if err := run("describe", "cm", "cfg"); err != nil {
		t.Fatal(err)
	}
	out = ta.stdout.String()
	if strings.Count(out, "Name:         cfg-") != 2 || strings.Contains(out, "other") || !strings.Contains(out, "Events:  <none>\n\n\nName:         cfg-b") {
		t.Errorf("prefix describe:\n%s", out)
	}

	if err := run("describe", "cm", "-l", "tier=oth"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.stdout.String(), "Name:         other") || strings.Contains(ta.stdout.String(), "cfg-a") {
		t.Errorf("selector describe:\n%s", ta.stdout.String())
	}

	// A kind without a built-in describer gets the generic one.
	if err := run("describe", "widgets", "w"); err != nil {
		t.Fatalf("%v\n%s", err, ta.stderr.String())
	}
	if out := ta.stdout.String(); !strings.Contains(out, "Name:") || !strings.Contains(out, "Size:") {
		t.Errorf("generic describe:\n%s", out)
	}
}

func TestDescribeNotFound(t *testing.T) {
	_, ta, run := fakeServerApp(t)
	err := run("describe", "configmap", "nope")
	if ExitCode(err, &ta.stderr) != 1 || !strings.Contains(ta.stderr.String(), `Error from server (NotFound): configmaps "nope" not found`) {
		t.Errorf("err %v, stderr %q", err, ta.stderr.String())
	}
	if err := run("describe", "pods"); err != nil {
		t.Fatal(err)
	}
	if ta.stderr.String() != "No resources found in default namespace.\n" {
		t.Errorf("stderr %q", ta.stderr.String())
	}
	o := describeOptions{}
	if err := o.Validate(); err == nil {
		t.Error("describe without a type accepted")
	}
}
