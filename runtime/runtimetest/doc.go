// Package runtimetest is the conformance suite every runtime.Runtime runs:
// runtime/fake in its unit tests, runtime/containerd against a private
// containerd. One suite keeps the two from drifting apart.
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, newRuntime, runtimetest.TestImage{
//			Ref:  "shoal.test/busybox:1",
//			Load: importBusybox,
//			Real: true,
//		})
//	}
//
// newRuntime(t) is called at the start of each case; a second call within
// the same case must return a fresh Runtime over the same node state (a
// shoal restart), after the suite has closed the first. Everything a case
// makes is removed by the case's cleanups.
package runtimetest
