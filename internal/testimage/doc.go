// Package testimage builds the container images tests run and serves them
// from an in-process registry, because the machines that run the tests
// reach no public registry. Images are made with go-containerregistry from
// Debian's busybox-static and from small Go programs under
// testdata/images: a stand-in for the tutorial's kubernetes-bootcamp app
// and one for polinux/stress.
//
//	img := testimage.Bootcamp(t, "v1")
//	reg := testimage.StartRegistry(t, "127.0.0.1:0")
//	reg.Push(t, "google-samples/kubernetes-bootcamp:v1", img)
package testimage
