package cli

import (
	"strings"
	"testing"
)

func names(ms []manifest) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.obj.GetKind()+"/"+m.obj.GetName())
	}
	return strings.Join(s, " ")
}

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s1}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s2}\n")
	writeFile(t, dir, "b.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"n":"1"}} {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)
	writeFile(t, dir, "notes.txt", "not a manifest")
	writeFile(t, dir, "sub/d.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n")

	ms, err := readManifests([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(ms), "ConfigMap/a Service/s1 Service/s2 ConfigMap/b ConfigMap/c"; got != want {
		t.Errorf("dir: %s, want %s", got, want)
	}
	ms, err = readManifests([]string{dir}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(names(ms), "ConfigMap/d") || !strings.HasSuffix(ms[len(ms)-1].source, "sub/d.yml") {
		t.Errorf("-R: %s", names(ms))
	}

	ms, err = readManifests([]string{"-"}, false, strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in}\ndata: {n: \"1\"}\nspec: {replicas: 3}\n"))
	if err != nil || names(ms) != "ConfigMap/in" || ms[0].source != "STDIN" {
		t.Fatalf("stdin: %s %v", names(ms), err)
	}
	// Whole numbers stay integers, as the unstructured helpers expect.
	if _, ok := ms[0].obj.Object["spec"].(map[string]interface{})["replicas"].(int64); !ok {
		t.Errorf("replicas decoded as %T", ms[0].obj.Object["spec"].(map[string]interface{})["replicas"])
	}
}

func TestReadManifestsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content, want string
	}{
		{"apiVersion: v1\nmetadata: {name: a}\n", "kind not set"},
		{"kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion not set"},
		{"apiVersion: v1\nkind: [\n", "error parsing"},
	} {
		p := writeFile(t, dir, "bad.yaml", tc.content)
		if _, err := readManifests([]string{p}, false, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.content, err, tc.want)
		}
	}
	if _, err := readManifests([]string{dir + "/missing.yaml"}, false, nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}
