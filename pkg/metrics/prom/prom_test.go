package prom_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/metrics/prom"
)

// TestScrape counts and times as the service does and reads them back the
// way Prometheus scrapes /metrics.
func TestScrape(t *testing.T) {
	m := prom.New()
	ctx := context.Background()
	m.Count(ctx, chat.MetricMessagesStored, 1, chat.Label{Name: "Kind", Value: "private"})
	m.Count(ctx, chat.MetricMessagesStored, 2, chat.Label{Name: "Kind", Value: "private"})
	m.Count(ctx, chat.MetricPushFailures, 1, chat.Label{Name: "Reason", Value: "gone"})
	m.Count(ctx, chat.MetricDeliveries, 5, chat.Label{})
	m.Time(ctx, chat.MetricFanout, 3*time.Millisecond)
	m.Time(ctx, chat.MetricFanout, 40*time.Millisecond)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`minichat_events_total{label="private",metric="MessagesStored"} 3`,
		`minichat_events_total{label="gone",metric="PushFailures"} 1`,
		`minichat_events_total{label="",metric="Deliveries"} 5`,
		`minichat_fanout_seconds_count 2`,
		`minichat_fanout_seconds_bucket{le="0.004"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
}
