package node

import (
	"net/http"
	"net/http/pprof"
)

// profilingPath serves Go's profiles to the cluster's admins, as
// kube-apiserver does with --profiling: `kubectl get --raw
// '/debug/pprof/profile?seconds=30' > cpu.pprof`.
const profilingPath = "/debug/pprof/"

func profilingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(profilingPath, pprof.Index) // and the named profiles below it
	mux.HandleFunc(profilingPath+"cmdline", pprof.Cmdline)
	mux.HandleFunc(profilingPath+"profile", pprof.Profile)
	mux.HandleFunc(profilingPath+"symbol", pprof.Symbol)
	mux.HandleFunc(profilingPath+"trace", pprof.Trace)
	return mux
}
