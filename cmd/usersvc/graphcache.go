package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/usersvc/usersvc/proxy"
)

// withGraphCache puts the read cache in front of the opened store, unless
// GRAPH_CACHE_TTL is 0, and returns the store every caller uses with the
// function that drops the cache (nil when off). The cache's counters go to
// the metrics registry.
func withGraphCache(opened proxy.Store, cfg proxy.CacheConfig, m *metrics) (proxy.Store, func()) {
	g, ok := opened.(proxy.Graph)
	if cfg.TTL <= 0 || !ok {
		return opened, nil
	}
	c := proxy.Cached(g, cfg)
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "usersvc_graph_cache_hits_total",
			Help: "Reads of users and their lists answered from the read cache (GRAPH_CACHE_TTL).",
		}, func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "usersvc_graph_cache_misses_total",
			Help: "Cacheable reads that went to the graph.",
		}, func() float64 { return float64(c.Stats().Misses) }),
	)
	return c, c.Invalidate
}
