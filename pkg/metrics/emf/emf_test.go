package emf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Each line is an EMF document: _aws.CloudWatchMetrics names the namespace,
// the dimension set and each metric with its unit, and every metric and
// dimension named there is a top-level member of the line with a value of
// the right type (EMF's validation rules).
func TestFlushWritesValidEMF(t *testing.T) {
	var out bytes.Buffer
	m := New(&out)
	m.now = func() time.Time { return time.UnixMilli(1700000000123) }
	ctx := t.Context()
	m.Count(ctx, chat.MetricMessagesStored, 1, chat.Label{Name: "Kind", Value: "group"})
	m.Count(ctx, chat.MetricDeliveries, 8, chat.Label{})
	m.Count(ctx, chat.MetricDeliveries, 1, chat.Label{})
	m.Count(ctx, chat.MetricPushFailures, 1, chat.Label{Name: "Reason", Value: "gone"})
	m.Count(ctx, chat.MetricPushFailures, 2, chat.Label{Name: "Reason", Value: "error"})
	m.Time(ctx, chat.MetricFanout, 1500*time.Microsecond)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	sc := bufio.NewScanner(&out)
	lines := 0
	for sc.Scan() {
		lines++
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines, err)
		}
		aws, ok := doc["_aws"].(map[string]any)
		if !ok || aws["Timestamp"] != float64(1700000000123) {
			t.Fatalf("line %d: _aws %v", lines, doc["_aws"])
		}
		dirs := aws["CloudWatchMetrics"].([]any)
		if len(dirs) != 1 {
			t.Fatalf("line %d: %d directives", lines, len(dirs))
		}
		d := dirs[0].(map[string]any)
		if d["Namespace"] != Namespace {
			t.Fatalf("line %d: namespace %v", lines, d["Namespace"])
		}
		dims := d["Dimensions"].([]any)[0].([]any)
		label := ""
		for _, dim := range dims {
			v, ok := doc[dim.(string)].(string)
			if !ok {
				t.Fatalf("line %d: dimension %v has no string value", lines, dim)
			}
			label = "/" + v
		}
		for _, mm := range d["Metrics"].([]any) {
			name := mm.(map[string]any)["Name"].(string)
			unit := mm.(map[string]any)["Unit"].(string)
			if unit != "Count" && unit != "Milliseconds" {
				t.Fatalf("line %d: unit %q", lines, unit)
			}
			v, ok := doc[name]
			if !ok {
				t.Fatalf("line %d: metric %s has no value", lines, name)
			}
			values[name+label] = v
		}
	}
	want := map[string]any{
		"MessagesStored/group": float64(1), "Deliveries": float64(9),
		"PushFailures/gone": float64(1), "PushFailures/error": float64(2), "FanoutMs": []any{1.5},
	}
	if lines != 4 || len(values) != len(want) {
		t.Fatalf("%d lines, values %v; want 4 lines with %v", lines, values, want)
	}
	for k, v := range want {
		if got, _ := json.Marshal(values[k]); string(got) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(v))
		}
	}
	out.Reset()
	if err := m.Flush(); err != nil || out.Len() != 0 {
		t.Fatalf("second flush wrote %q (%v): metrics must start afresh", out.String(), err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
