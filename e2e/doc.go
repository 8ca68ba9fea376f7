// Package e2e holds end-to-end tests that build the shoal binary and run it
// as real processes: agents joined with `shoal join`, driven by shoal's CLI
// and by the real kubectl where the machine has it.
package e2e
