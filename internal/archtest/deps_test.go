package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shoal-project/shoal/"

// forbidden lists, for a package (a pattern under the module), the shoal
// packages it must not depend on, directly or not, and why.
var forbidden = []struct {
	pkg, why string
	not      []string
}{
	{"dnsd", "dnsd answers from a Resolver; it knows nothing of raft or the API",
		[]string{"consensus", "node/apiserver", "node/follow", "node/membership"}},
	{"runtime/...", "the runtime runs containers; it knows nothing of raft or the API",
		[]string{"consensus", "node/apiserver", "node/follow", "node/membership"}},
	{"node/network", "the pod network knows nothing of raft or the API",
		[]string{"consensus", "node/apiserver", "node/follow", "node/membership"}},
	{"consensus/...", "the store is below every other part",
		[]string{"node", "node/apiserver", "node/follow", "node/controller", "cli"}},
	{"node/streaming", "streaming uses the API's wire helpers, not the API server",
		[]string{"node/apiserver"}},
	{"node/resourcemetrics", "the metrics API uses the API's wire helpers, not the API server",
		[]string{"node/apiserver"}},
	{"node/scheduler", "the scheduler is a part of its own, not a controller",
		[]string{"node/controller"}},
	{"node/apiserver/...", "the API server serves the store; the parts that act on it are its clients",
		[]string{"node", "node/controller", "node/scheduler", "node/kubelet", "node/servicesync"}},
	{"node/follow", "the follow layer reads the store; it knows nothing of the API server",
		[]string{"node/apiserver"}},
}

func TestImportDirection(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH: cannot list imports")
	}
	for _, rule := range forbidden {
		t.Run(rule.pkg, func(t *testing.T) {
			out, err := exec.Command(goTool, "list", "-deps", module+rule.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", rule.pkg, err, out)
			}
			deps := strings.Fields(string(out))
			for _, bad := range rule.not {
				if slices.Contains(deps, module+bad) {
					t.Errorf("%s depends on %s%s; it must not: %s", rule.pkg, module, bad, rule.why)
				}
			}
		})
	}
}
