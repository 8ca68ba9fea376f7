package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upgradeFrom is the commit whose binary the upgrade test starts from:
// the previous release, v0.2.0 (main's head before v0.3.0's framed
// commands; docs/upgrades.md supports one minor version back). It is on
// main, so every full clone has it.
const upgradeFrom = "6d86177"

// buildShoalAt builds cmd/shoal as it was at commit, from this clone's
// history, into a temporary directory the test removes. The source is
// exported with git archive (no worktree is registered in the clone);
// -trimpath keeps the build cache's entries for unchanged packages valid
// across the temporary paths, so a second run takes seconds.
func buildShoalAt(t *testing.T, commit string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git on PATH: the upgrade test builds an earlier commit")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s is not in this clone's history (%v: %s); the upgrade test builds it: fetch the full history (git fetch --unshallow)",
			commit, err, strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	tarball := filepath.Join(dir, "src.tar")
	if out, err := exec.Command("git", "-C", root, "archive", "--format=tar", "-o", tarball, commit).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", commit, err, out)
	}
	bin := filepath.Join(dir, "shoal-"+commit)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/shoal")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build shoal at %s: %v\n%s", commit, err, out)
	}
	t.Logf("built shoal at %s in %s", commit, time.Since(start).Round(100*time.Millisecond))
	return bin
}
