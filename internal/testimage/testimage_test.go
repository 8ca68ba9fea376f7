package testimage

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBootcampImageThroughRegistry(t *testing.T) {
	img := Bootcamp(t, "v2")
	reg := StartRegistry(t, "127.0.0.1:0")
	reg.Push(t, "google-samples/kubernetes-bootcamp:v2", img)
	ref, _ := name.ParseReference(reg.Addr+"/google-samples/kubernetes-bootcamp:v2", name.Insecure)
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull back: %v", err)
	}
	cfg, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/bootcamp" {
		t.Fatalf("entrypoint = %v, want [/bootcamp]", cfg.Config.Entrypoint)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Fatalf("exposed ports = %v, want 8080/tcp", cfg.Config.ExposedPorts)
	}
	layers, _ := got.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	path := filepath.Join(t.TempDir(), "img.tar")
	WriteTarball(t, path, "docker.io/library/bootcamp:v2", img)
	if _, err := tarball.ImageFromPath(path, nil); err != nil {
		t.Fatalf("read the tarball back: %v", err)
	}
}
