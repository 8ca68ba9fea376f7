package kubelet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoal-project/shoal/runtime"
)

// Volume plugin directory names, as the kubelet lays them out under
// <root>/pods/<uid>/volumes.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
)

// defaultFileMode is a configMap or secret volume's defaultMode default.
const defaultFileMode = 0o644

// volume is a prepared pod volume on the host.
type volume struct {
	path string
	// readOnly: configMap and secret volumes are always mounted read-only.
	readOnly bool
}

// volumeError is a volume that could not be set up; its message is the
// FailedMount event's.
type volumeError struct {
	name string
	err  error
}

func (e *volumeError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.name, e.err)
}

func (e *volumeError) Unwrap() error { return e.err }

// podDir is where a pod's volumes live.
func (k *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.RootDir, "pods", string(uid))
}

// volumeDirs lists the uids that have a pod directory.
func (k *Kubelet) volumeDirs() []types.UID {
	ents, err := os.ReadDir(filepath.Join(k.cfg.RootDir, "pods"))
	if err != nil {
		return nil
	}
	var out []types.UID
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out
}

// setupVolumes prepares every volume of pod under podDir (idempotent: it
// runs on every sync and so refreshes configMap and secret contents).
func setupVolumes(podDir string, pod *corev1.Pod, objs objects) (map[string]volume, error) {
	vols := make(map[string]volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vol, err := setupVolume(podDir, pod, &v, objs)
		if err != nil {
			return nil, &volumeError{name: v.Name, err: err}
		}
		vols[v.Name] = vol
	}
	return vols, nil
}

func setupVolume(podDir string, pod *corev1.Pod, v *corev1.Volume, objs objects) (volume, error) {
	src := v.VolumeSource
	switch {
	case src.HostPath != nil:
		return volume{path: src.HostPath.Path}, checkHostPath(src.HostPath)
	case src.ConfigMap != nil:
		dir := filepath.Join(podDir, "volumes", pluginConfigMap, v.Name)
		files, err := configMapFiles(pod.Namespace, src.ConfigMap, objs)
		if err != nil {
			return volume{}, err
		}
		return volume{path: dir, readOnly: true}, writeFiles(dir, files)
	case src.Secret != nil:
		dir := filepath.Join(podDir, "volumes", pluginSecret, v.Name)
		files, err := secretFiles(pod.Namespace, src.Secret, objs)
		if err != nil {
			return volume{}, err
		}
		return volume{path: dir, readOnly: true}, writeFiles(dir, files)
	case src.EmptyDir != nil:
		dir := filepath.Join(podDir, "volumes", pluginEmptyDir, v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return volume{}, err
		}
		if src.EmptyDir.Medium == corev1.StorageMediumMemory {
			return volume{path: dir}, mountTmpfs(dir, src.EmptyDir.SizeLimit)
		}
		return volume{path: dir}, nil
	default:
		// Sources shoal does not implement (projected, downwardAPI, network
		// disks) get an empty directory so the pod still starts.
		dir := filepath.Join(podDir, "volumes", "kubernetes.io~unsupported", v.Name)
		return volume{path: dir}, os.MkdirAll(dir, 0o755)
	}
}

// checkHostPath is the hostPath type checker, with its messages.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	path := hp.Path
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	fi, statErr := os.Stat(path)
	exists := statErr == nil
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		fallthrough
	case corev1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case corev1.HostPathSocket:
		if !exists || fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", path)
		}
	case corev1.HostPathCharDev:
		if !exists || fi.Mode()&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", path)
		}
	case corev1.HostPathBlockDev:
		if !exists || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", path)
		}
	}
	return nil
}

// file is one projected key.
type file struct {
	data []byte
	mode os.FileMode
}

func configMapFiles(ns string, src *corev1.ConfigMapVolumeSource, objs objects) (map[string]file, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := objs.configMap(ns, src.Name)
	if err != nil {
		if errors.Is(err, errNotFound) && optional {
			return map[string]file{}, nil
		}
		return nil, err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys(data, src.Items, src.DefaultMode, optional, "configmap references non-existent config key: %s")
}

func secretFiles(ns string, src *corev1.SecretVolumeSource, objs objects) (map[string]file, error) {
	optional := src.Optional != nil && *src.Optional
	s, err := objs.secret(ns, src.SecretName)
	if err != nil {
		if errors.Is(err, errNotFound) && optional {
			return map[string]file{}, nil
		}
		return nil, err
	}
	return projectKeys(s.Data, src.Items, src.DefaultMode, optional, "references non-existent secret key: %s")
}

// projectKeys is the volume plugins' MakePayload: every key as a file, or
// only the listed items at their paths with their modes.
func projectKeys(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, missing string) (map[string]file, error) {
	mode := os.FileMode(defaultFileMode)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & os.ModePerm
	}
	out := make(map[string]file)
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: mode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf(missing, it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode) & os.ModePerm
		}
		out[it.Path] = file{data: v, mode: m}
	}
	return out, nil
}

// writeFiles makes dir hold exactly files: changed files are replaced
// atomically (temporary file and rename), stale ones removed.
func writeFiles(dir string, files map[string]file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for rel, f := range files {
		p := filepath.Join(dir, filepath.Clean("/"+rel))
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, f.data) {
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() == f.mode {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), f.mode)); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), p); err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	var stale []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			stale = append(stale, p)
		}
		return nil
	})
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// containerMounts turns a container's volumeMounts into bind mounts.
func containerMounts(c *corev1.Container, vols map[string]volume, env []string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		host := v.path
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expandAll([]string{vm.SubPathExpr}, env)[0]
		}
		if sub != "" {
			if filepath.IsAbs(sub) || slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
				return nil, fmt.Errorf("subPath %q must be a relative path without '..'", sub)
			}
			host = filepath.Join(host, sub)
			if _, err := os.Lstat(host); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", vm.Name, c.Name)
				}
			}
		}
		out = append(out, runtime.Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: vm.ReadOnly || v.readOnly})
	}
	return out, nil
}

// mountTmpfs mounts a tmpfs at dir unless one is there already.
func mountTmpfs(dir string, size *resource.Quantity) error {
	mounts, err := mountsUnder(dir)
	if err == nil && slices.Contains(mounts, dir) {
		return nil
	}
	opts := ""
	if size != nil && size.Value() > 0 {
		opts = fmt.Sprintf("size=%d", size.Value())
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// removePodDir unmounts whatever is mounted under a pod's directory
// (deepest first) and removes it.
func removePodDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := unix.Unmount(m, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir (from
// /proc/self/mountinfo).
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
