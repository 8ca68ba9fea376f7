// Command coredns is CoreDNS v1.14.7 with only the plugins shoal's DNS
// comparisons need (file, cache, errors, bind), built by e2e's
// BenchmarkDNSAgentVsCoreDNS from this module to compare the agent's
// dnsd with CoreDNS on the same names, queries and machine, and by
// dnsd's TestAnswersAgreeWithCoreDNS to record CoreDNS's answers.
//
// It is its own module so that CoreDNS and its dependencies stay out of
// shoal's go.mod; nothing of shoal imports it.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins the Corefiles use; each registers itself.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
)

func main() { coremain.Run() }
