// Package prom provides PromMetrics, the chat.Metrics adapter of
// `minichat serve`: counters and a fan-out histogram in a Prometheus
// registry, with the Go runtime and process collectors, served at
// /metrics by the official client library.
package prom
