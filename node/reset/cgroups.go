package reset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupDirs are the cgroups of containerd namespace ns under root
// (/sys/fs/cgroup): root/ns for cgroup v2, root/<controller>/ns for v1.
func cgroupDirs(root, ns string) []string {
	var out []string
	if st, err := os.Stat(filepath.Join(root, ns)); err == nil && st.IsDir() {
		out = append(out, filepath.Join(root, ns))
	}
	v1, _ := filepath.Glob(filepath.Join(root, "*", ns))
	for _, d := range v1 {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// removeCgroups removes the cgroups of ns, children first. A cgroup's
// files are the kernel's, so only its directories are removed (rmdir),
// and only once no process is left in them.
func removeCgroups(root, ns string) ([]string, error) {
	var did []string
	var errs []error
	for _, top := range cgroupDirs(root, ns) {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
		if _, err := os.Stat(top); errors.Is(err, os.ErrNotExist) {
			did = append(did, "cgroup "+top)
		}
	}
	return did, errors.Join(errs...)
}
