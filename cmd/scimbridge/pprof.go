package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
)

// startPprof serves Go's profiler on addr when SCIMBRIDGE_PPROF names a
// loopback address (e.g. 127.0.0.1:6060): opt-in, for profiling a real
// process, never exposed beyond the machine.
func startPprof(addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("SCIMBRIDGE_PPROF must be a loopback host:port; profiler not started", "addr", addr)
		return
	}
	runtime.SetBlockProfileRate(int(1e6)) // one sample per ms blocked
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	go func() {
		log.Info("profiler listening", "addr", addr)
		if err := http.ListenAndServe(addr, mux); err != nil && !strings.Contains(err.Error(), "closed") {
			log.Warn("profiler stopped", "err", err)
		}
	}()
}
