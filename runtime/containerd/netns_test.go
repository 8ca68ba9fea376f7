package containerd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Making pod namespaces leaves the process where it was: no thread of the
// agent, the main thread included, stays in a pod's namespace. (A main
// thread left in one hides the agent from `ip netns pids` of its node's
// namespace and makes /proc/PID/ns/net lie about where the agent is.)
func TestCreateNetNSLeavesProcessNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	t.Cleanup(func() {
		for _, p := range paths {
			if err := removeNetNS(p); err != nil {
				t.Error(err)
			}
		}
	})
	for i := range 200 {
		p := filepath.Join(dir, fmt.Sprintf("ns-%d", i))
		if err := createNetNS(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if now, _ := os.Readlink("/proc/self/ns/net"); now != before {
			t.Fatalf("after %d namespaces the process's main thread is in %s, want %s (where it started)", i+1, now, before)
		}
	}
	// And every thread is back: none of them is in a pod's namespace.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if ns, _ := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); ns != "" && ns != before {
			t.Errorf("thread %s is in %s, want %s", task.Name(), ns, before)
		}
	}
}
