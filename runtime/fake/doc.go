// Package fake is an in-memory runtime.Runtime for control-plane tests: no
// processes, no namespaces, no files. Containers "run" until stopped, or
// for the RunFor of their image and then exit with its ExitCode; fault
// knobs make pulls and starts fail or slow.
//
//	rt := fake.New()
//	rt.SetFaults(func(f *fake.Faults) {
//		f.PullError["registry.test/broken:1"] = errors.New("manifest unknown")
//		f.RunFor["registry.test/job:1"] = time.Second
//	})
//	// ... drive the kubelet with rt ...
//	rt2 := rt.Restart() // same sandboxes and containers, as after a shoal restart
//
// runtime/runtimetest runs the same conformance suite against this fake and
// against runtime/containerd.
package fake
