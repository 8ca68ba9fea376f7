package wire_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// apiserverPkg is the package the wire helpers exist to keep out of the
// handlers' dependencies.
const apiserverPkg = "github.com/shoal-project/shoal/node/apiserver"

// TestHandlersDoNotImportAPIServer keeps the import direction this package
// was made for: streaming and resourcemetrics implement the API server's
// contracts through wire, and neither they nor wire depend on the
// 8,000-line API server (test files may: they start one).
func TestHandlersDoNotImportAPIServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH: %v", err)
	}
	pkgs := []string{
		apiserverPkg + "/wire",
		"github.com/shoal-project/shoal/node/streaming",
		"github.com/shoal-project/shoal/node/resourcemetrics",
	}
	for _, pkg := range pkgs {
		var stderr bytes.Buffer
		cmd := exec.Command(goTool, "list", "-deps", pkg)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == apiserverPkg {
				t.Errorf("%s imports %s; use %s/wire instead", pkg, apiserverPkg, apiserverPkg)
			}
		}
	}
}
