// Package preflight holds the checks `shoal agent` runs before it starts,
// as kubeadm's preflight does: each is a named function that returns an
// error saying what is wrong and what to do. They take their paths and
// lookups as inputs, so tests feed them fakes; node builds the list for a
// configuration (node.PreflightChecks).
package preflight
