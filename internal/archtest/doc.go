// Package archtest holds the tests that keep shoal's import graph in the
// direction docs/architecture.md draws: cli -> apiserver -> consensus, and
// the runtime, network and DNS parts knowing nothing of raft or the API.
package archtest
