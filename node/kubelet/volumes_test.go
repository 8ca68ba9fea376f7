package kubelet

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{dir, corev1.HostPathUnset, ""},
		{filepath.Join(dir, "missing"), corev1.HostPathUnset, ""},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "is not a directory"},
		{filepath.Join(dir, "new/sub"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, "is not a file"},
		{filepath.Join(dir, "newfile"), corev1.HostPathFileOrCreate, ""},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "is not a socket file"},
		{file, corev1.HostPathCharDev, "is not a character device"},
		{file, corev1.HostPathBlockDev, "is not a block device"},
	} {
		err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: ptr.To(tc.typ)})
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.wantErr)) {
			t.Errorf("%s %s: %v, want %q", tc.typ, tc.path, err, tc.wantErr)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "new/sub")); err != nil || !fi.IsDir() {
		t.Error("DirectoryOrCreate did not create the directory")
	}
	if fi, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !fi.Mode().IsRegular() {
		t.Error("FileOrCreate did not create the file")
	}
}

func TestConfigMapAndSecretVolumes(t *testing.T) {
	objs := mapObjects{
		cms:     map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}},
		secrets: map[string]*corev1.Secret{"s": {Data: map[string][]byte{"token": []byte("t")}}},
	}
	podDir := t.TempDir()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0o600),
			Items: []corev1.KeyToPath{{Key: "a", Path: "conf/a.txt"}, {Key: "b", Path: "b", Mode: ptr.To[int32](0o400)}}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone", Optional: ptr.To(true)}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
	}}}
	vols, err := setupVolumes(podDir, pod, objs)
	if err != nil {
		t.Fatal(err)
	}
	read := func(vol, rel string) (string, os.FileMode) {
		p := filepath.Join(vols[vol].path, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s/%s: %v", vol, rel, err)
		}
		fi, _ := os.Stat(p)
		return string(b), fi.Mode().Perm()
	}
	if got, mode := read("all", "a"); got != "1" || mode != 0o644 {
		t.Errorf("all/a = %q %v", got, mode)
	}
	if got, _ := read("all", "bin"); got != "\x00\x01" {
		t.Errorf("binary data %q", got)
	}
	if got, mode := read("items", "conf/a.txt"); got != "1" || mode != 0o600 {
		t.Errorf("items/conf/a.txt = %q %v", got, mode)
	}
	if _, mode := read("items", "b"); mode != 0o400 {
		t.Errorf("item mode %v", mode)
	}
	if got, _ := read("sec", "token"); got != "t" || !vols["sec"].readOnly || !vols["all"].readOnly || vols["host"].readOnly {
		t.Errorf("secret %q, read-only flags %+v", got, vols)
	}
	if ents, _ := os.ReadDir(vols["opt"].path); len(ents) != 0 {
		t.Errorf("optional missing secret must give an empty volume")
	}
	// Updates replace changed keys and drop removed ones.
	objs.cms["cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "changed"}}
	if _, err := setupVolumes(podDir, pod, objs); err == nil || err.Error() != `MountVolume.SetUp failed for volume "items" : configmap references non-existent config key: b` {
		t.Errorf("missing item key: %v", err)
	}
	if got, _ := read("all", "a"); got != "changed" {
		t.Errorf("refreshed a = %q", got)
	}
	if _, err := os.Stat(filepath.Join(vols["all"].path, "b")); !os.IsNotExist(err) {
		t.Errorf("removed key still there: %v", err)
	}
	delete(objs.cms, "cfg")
	if _, err := setupVolumes(podDir, pod, objs); err == nil || err.Error() != `MountVolume.SetUp failed for volume "all" : configmap "cfg" not found` {
		t.Errorf("missing configmap: %v", err)
	}
}

func TestContainerMounts(t *testing.T) {
	dir := t.TempDir()
	vols := map[string]volume{"data": {path: dir}, "cfg": {path: "/cfg", readOnly: true}}
	c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/data", SubPath: "sub/dir"},
		{Name: "data", MountPath: "/pod", SubPathExpr: "$(POD)"},
		{Name: "cfg", MountPath: "/etc/cfg"},
		{Name: "data", MountPath: "/ro", ReadOnly: true},
	}}
	ms, err := containerMounts(c, vols, []string{"POD=web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].HostPath != filepath.Join(dir, "sub/dir") || ms[1].HostPath != filepath.Join(dir, "web-1") ||
		!ms[2].ReadOnly || ms[0].ReadOnly || !ms[3].ReadOnly || ms[2].ContainerPath != "/etc/cfg" {
		t.Errorf("mounts %+v", ms)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sub/dir")); err != nil || !fi.IsDir() {
		t.Error("subPath directory not created")
	}
	for _, bad := range []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}, {Name: "data", MountPath: "/x", SubPath: "../etc"}} {
		if _, err := containerMounts(&corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{bad}}, vols, nil); err == nil {
			t.Errorf("mount %+v accepted", bad)
		}
	}
}
