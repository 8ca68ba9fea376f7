package node

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"
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
	var sampling sync.Mutex // one sampled block or mutex profile at a time
	mux.Handle(profilingPath+"block", sampled(&sampling, "block", func(on bool) {
		rate := 0
		if on {
			rate = int(10 * time.Microsecond) // a wait of 10µs or more is sampled
		}
		runtime.SetBlockProfileRate(rate)
	}))
	mux.Handle(profilingPath+"mutex", sampled(&sampling, "mutex", func(on bool) {
		fraction := 0
		if on {
			fraction = 5 // one contention event in 5
		}
		runtime.SetMutexProfileFraction(fraction)
	}))
	return mux
}

// sampled serves the block or mutex profile. Go records those only while
// sampling is on, which costs on every contended wait, so it is off
// normally and on for the duration of a request with ?seconds=N (the
// delta profile of those N seconds).
func sampled(mu *sync.Mutex, name string, set func(on bool)) http.Handler {
	h := pprof.Handler(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("seconds") == "" {
			h.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		set(true)
		defer set(false)
		h.ServeHTTP(w, r)
	})
}
