package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDeleteByNameWaitsUntilGone(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)
	f.lingers = 2 // two more GETs find it after the DELETE
	f.resetRequests()
	if err := run("delete", "deployments/web", "svc/web"); err != nil {
		t.Fatalf("%v\n%s", err, ta.stderr.String())
	}
	if want := "deployment.apps \"web\" deleted\nservice \"web\" deleted\n"; ta.stdout.String() != want {
		t.Errorf("stdout = %q, want %q", ta.stdout.String(), want)
	}
	w := f.writes()
	if len(w) != 2 || w[0].Method != "DELETE" || w[0].Path != "/apis/apps/v1/namespaces/default/deployments/web" {
		t.Fatalf("writes = %+v", w)
	}
	var opts map[string]interface{}
	if err := json.Unmarshal([]byte(w[0].Body), &opts); err != nil || opts["propagationPolicy"] != "Background" {
		t.Errorf("DeleteOptions = %s", w[0].Body)
	}
	gets := 0
	for _, r := range f.requests {
		if r.Method == "GET" && r.Path == "/apis/apps/v1/namespaces/default/deployments/web" {
			gets++
		}
	}
	if gets != 3 {
		t.Errorf("waited with %d GETs, want 3 (2 found, 1 NotFound)", gets)
	}
	if f.get(findResource("apps", "deployments"), "default", "web") != nil {
		t.Error("deployment still stored")
	}
}

func TestDeleteOptionsOnTheWire(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)
	f.resetRequests()
	if err := run("delete", "deploy", "web", "--cascade=foreground", "--grace-period", "0", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, ta.stderr.String())
	}
	w := f.writes()
	if len(w) != 1 || !strings.Contains(w[0].Body, `"propagationPolicy":"Foreground"`) || !strings.Contains(w[0].Body, `"gracePeriodSeconds":0`) {
		t.Fatalf("writes = %+v", w)
	}
	for _, r := range f.requests {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/deployments/web") {
			t.Error("--wait=false still waited")
		}
	}
}

func TestDeleteBySelectorAndFile(t *testing.T) {
	f, ta, run := fakeServerApp(t)
	seed(f)
	if err := run("delete", "svc", "-l", "app=web"); err != nil {
		t.Fatal(err)
	}
	if ta.stdout.String() != "service \"web\" deleted\n" {
		t.Errorf("stdout = %q", ta.stdout.String())
	}
	if f.get(findResource("", "services"), "default", "kubernetes") == nil {
		t.Error("the selector deleted too much")
	}

	app := writeFile(t, t.TempDir(), "app.yaml", appV1)
	err := run("delete", "-f", app)
	// The deployment goes; the service and namespace were never there.
	if ta.stdout.String() != "deployment.apps \"web\" deleted\n" {
		t.Errorf("stdout = %q", ta.stdout.String())
	}
	if ExitCode(err, &ta.stderr) != 1 {
		t.Error("missing objects must exit 1")
	}
	want := `Error from server (NotFound): error when deleting "` + app + `": services "web" not found`
	if !strings.Contains(ta.stderr.String(), want) {
		t.Errorf("stderr =\n%s\nwant\n%s", ta.stderr.String(), want)
	}
}

func TestDeleteNotFound(t *testing.T) {
	_, ta, run := fakeServerApp(t)
	err := run("delete", "deployment", "x")
	if ExitCode(err, &ta.stderr) != 1 {
		t.Fatal("exit code not 1")
	}
	if want := "Error from server (NotFound): deployments.apps \"x\" not found\n"; ta.stderr.String() != want {
		t.Errorf("stderr = %q, want %q", ta.stderr.String(), want)
	}
}

func TestDeleteOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    deleteOptions
		want string
	}{
		{deleteOptions{Args: []string{"pods", "x"}, Cascade: "sideways"}, "--cascade"},
		{deleteOptions{Args: []string{"pods", "x"}, Cascade: "orphan", GracePeriod: -2}, "--grace-period"},
		{deleteOptions{Cascade: "background"}, "must provide one or more resources"},
		{deleteOptions{Args: []string{"pods"}, Files: []string{"a.yaml"}}, "not both"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
	o := deleteOptions{Args: []string{"pods", "x"}, Cascade: "false", GracePeriod: -1}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.propagation(); p != "Orphan" {
		t.Errorf("--cascade=false = %s", p)
	}
}

func TestDeleteNeedsNameOrSelector(t *testing.T) {
	_, _, run := fakeServerApp(t)
	if err := run("delete", "pods"); err == nil || !strings.Contains(err.Error(), "no name was specified") {
		t.Errorf("err = %v", err)
	}
}
