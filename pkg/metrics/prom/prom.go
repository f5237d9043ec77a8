package prom

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/minichatbar/minichat/pkg/chat"
)

var _ chat.Metrics = (*PromMetrics)(nil)

// PromMetrics counts into a Prometheus registry of its own.
type PromMetrics struct {
	reg      *prometheus.Registry
	counters *prometheus.CounterVec
	fanout   prometheus.Histogram
}

// New returns PromMetrics with the Go and process collectors registered.
// Counters are named minichat_<metric>_total with labels name (the metric)
// and label (its value, such as private or gone).
func New() *PromMetrics {
	m := &PromMetrics{
		reg: prometheus.NewRegistry(),
		counters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "minichat", Name: "events_total",
			Help: "What the chat service did: messages stored by kind, deliveries, push failures by reason, refusals.",
		}, []string{"metric", "label"}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "minichat", Name: "fanout_seconds",
			Help:    "Time to push one event to every connection it goes to.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	m.reg.MustRegister(m.counters, m.fanout, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Count adds n to the counter name with the label's value.
func (m *PromMetrics) Count(_ context.Context, name string, n int, label chat.Label) {
	m.counters.WithLabelValues(name, label.Value).Add(float64(n))
}

// Time records a fan-out duration (the one timing the service makes).
func (m *PromMetrics) Time(_ context.Context, name string, d time.Duration) {
	if name == chat.MetricFanout {
		m.fanout.Observe(d.Seconds())
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *PromMetrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
