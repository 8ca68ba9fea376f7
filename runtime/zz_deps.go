package runtime

import (
	_ "github.com/containerd/containerd"
	_ "github.com/containerd/containerd/oci"
	_ "github.com/containernetworking/cni/libcni"
	_ "github.com/creack/pty"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "k8s.io/apimachinery/pkg/util/httpstream/wsstream"
)
