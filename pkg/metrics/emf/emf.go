package emf

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Namespace is the CloudWatch namespace of minichat's metrics.
const Namespace = "minichat"

// maxValues is how many values of one metric a line may carry.
const maxValues = 100

var _ chat.Metrics = (*EMFMetrics)(nil)

// EMFMetrics collects metrics until Flush. It is safe for concurrent use.
type EMFMetrics struct {
	mu     sync.Mutex
	out    io.Writer
	now    func() time.Time
	counts map[chat.Label]map[string]int
	times  map[string][]float64
}

// New returns an EMFMetrics that flushes to out (a Lambda function's
// stdout goes to its log group).
func New(out io.Writer) *EMFMetrics {
	return &EMFMetrics{out: out, now: time.Now, counts: map[chat.Label]map[string]int{}, times: map[string][]float64{}}
}

// Count adds n to the counter name, split by label if set.
func (m *EMFMetrics) Count(_ context.Context, name string, n int, label chat.Label) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts[label]
	if c == nil {
		c = map[string]int{}
		m.counts[label] = c
	}
	c[name] += n
}

// Time records one duration of name, in milliseconds.
func (m *EMFMetrics) Time(_ context.Context, name string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.times[name] = append(m.times[name], float64(d.Microseconds())/1000)
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Flush writes what was collected since the last Flush, one line per
// label (an EMF line gives each dimension one value), and starts afresh.
func (m *EMFMetrics) Flush() error {
	m.mu.Lock()
	counts, times := m.counts, m.times
	m.counts, m.times = map[chat.Label]map[string]int{}, map[string][]float64{}
	m.mu.Unlock()
	ts := m.now().UnixMilli()
	labels := slices.SortedFunc(maps.Keys(counts), func(a, b chat.Label) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
	})
	if len(times) > 0 && counts[chat.Label{}] == nil {
		labels = append([]chat.Label{{}}, labels...)
	}
	for _, l := range labels {
		line := map[string]any{}
		d := directive{Namespace: Namespace, Dimensions: [][]string{{}}}
		if l.Name != "" {
			d.Dimensions = [][]string{{l.Name}}
			line[l.Name] = l.Value
		}
		for _, name := range slices.Sorted(maps.Keys(counts[l])) {
			d.Metrics = append(d.Metrics, metric{Name: name, Unit: "Count"})
			line[name] = counts[l][name]
		}
		if l.Name == "" {
			for _, name := range slices.Sorted(maps.Keys(times)) {
				vs := times[name]
				d.Metrics = append(d.Metrics, metric{Name: name, Unit: "Milliseconds"})
				line[name] = vs[:min(len(vs), maxValues)]
			}
		}
		line["_aws"] = map[string]any{"Timestamp": ts, "CloudWatchMetrics": []directive{d}}
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		if _, err := m.out.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}
