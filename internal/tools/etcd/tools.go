//go:build tools

// Package etcd pins the etcd server and its benchmark tool, which
// e2e/etcdbench_test.go builds to compare shoal's writes with etcd's on the
// same machine (issue 13). It is a module of its own so that etcd's
// dependencies never enter shoal's go.mod; nothing is vendored.
package etcd

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "go.etcd.io/etcd/v3/tools/benchmark"
)
