package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
)

// figure is one row of a results table: how to read it off a run's result
// and how to print it.
type figure struct {
	name   string
	digits int
	ratio  bool // print minichat/peer
	count  bool // a count of bad events: also print the sum over the runs
	get    func(r any) float64
}

func roomsFigures() []figure {
	f := func(name string, digits int, ratio bool, get func(*roomsResult) float64) figure {
		return figure{name: name, digits: digits, ratio: ratio, get: func(r any) float64 { return get(r.(*roomsResult)) }}
	}
	c := func(name string, get func(*roomsResult) float64) figure {
		x := f(name, 0, false, get)
		x.count = true
		return x
	}
	return []figure{
		f("messages/s (confirmed)", 0, true, func(r *roomsResult) float64 { return r.MsgsPerSec }),
		f("deliveries/s", 0, true, func(r *roomsResult) float64 { return r.DelivPerSec }),
		f("echo latency p50 (ms)", 2, true, func(r *roomsResult) float64 { return r.EchoMs.P50 }),
		f("echo latency p90 (ms)", 2, true, func(r *roomsResult) float64 { return r.EchoMs.P90 }),
		f("echo latency p99 (ms)", 2, true, func(r *roomsResult) float64 { return r.EchoMs.P99 }),
		f("echo latency max (ms)", 2, true, func(r *roomsResult) float64 { return r.EchoMs.Max }),
		f("other-member latency p50 (ms)", 2, true, func(r *roomsResult) float64 { return r.OtherMs.P50 }),
		f("other-member latency p90 (ms)", 2, true, func(r *roomsResult) float64 { return r.OtherMs.P90 }),
		f("other-member latency p99 (ms)", 2, true, func(r *roomsResult) float64 { return r.OtherMs.P99 }),
		f("other-member latency max (ms)", 2, true, func(r *roomsResult) float64 { return r.OtherMs.Max }),
		c("lost deliveries", func(r *roomsResult) float64 { return float64(r.Lost) }),
		c("duplicate + extra deliveries", func(r *roomsResult) float64 { return float64(r.Duplicates + r.Extra) }),
		c("sends unanswered in time", func(r *roomsResult) float64 { return float64(r.Timeouts) }),
		c("error replies", func(r *roomsResult) float64 { return float64(sumErrors(r.Errors)) }),
		c("connections dropped", func(r *roomsResult) float64 { return float64(r.Disconnects) }),
		f("server peak RSS (MiB)", 1, true, func(r *roomsResult) float64 { return mib(r.PeakRSS) }),
		f("server CPU (% of a core)", 0, true, func(r *roomsResult) float64 { return r.ServerCPU }),
		f("server CPU per message (µs)", 0, true, func(r *roomsResult) float64 { return r.cpuPerMessage(r.ServerCPU) }),
		f("server write calls per message", 2, true, (*roomsResult).writesPerMessage),
		f("generator CPU per message (µs)", 0, false, func(r *roomsResult) float64 { return r.cpuPerMessage(r.GenCPU) }),
		f("generator CPU (% of a core)", 0, false, func(r *roomsResult) float64 { return r.GenCPU }),
		f("other processes' CPU (% of a core)", 0, false, func(r *roomsResult) float64 { return r.OtherCPU() }),
		f("machine iowait (% of all CPUs)", 1, false, func(r *roomsResult) float64 { return r.Machine.IOWait }),
	}
}

// cpuPerMessage turns a CPU use in percent of a core into microseconds
// per confirmed message.
func (r *roomsResult) cpuPerMessage(pct float64) float64 {
	if r.MsgsPerSec == 0 {
		return math.NaN()
	}
	return pct / 100 * 1e6 / r.MsgsPerSec
}

// writesPerMessage is the server's write calls per confirmed message.
func (r *roomsResult) writesPerMessage() float64 {
	if r.ServerWrites < 0 || r.Confirmed == 0 {
		return math.NaN()
	}
	return float64(r.ServerWrites) / float64(r.Confirmed)
}

func idleFigures() []figure {
	f := func(name string, digits int, ratio bool, get func(*idleResult) float64) figure {
		return figure{name: name, digits: digits, ratio: ratio, get: func(r any) float64 { return get(r.(*idleResult)) }}
	}
	return []figure{
		f("server RSS before (MiB)", 1, true, func(r *idleResult) float64 { return mib(r.RSSBefore) }),
		f("server RSS, all connected (MiB)", 1, true, func(r *idleResult) float64 { return mib(r.RSSUp) }),
		f("RSS per connection (KiB)", 1, true, func(r *idleResult) float64 { return r.PerConn / 1024 }),
		f("server RSS after all closed (MiB)", 1, true, func(r *idleResult) float64 { return mib(r.RSSAfter) }),
		f("runs back within 20% of the start", 0, false, func(r *idleResult) float64 { return b2f(r.Recovered) }),
		f("open fds, all connected", 0, true, func(r *idleResult) float64 { return float64(r.FDsUp) }),
		f("connections/s while connecting", 0, true, func(r *idleResult) float64 { return r.ConnsPerSec }),
		f("server CPU while connecting (% of a core)", 0, true, func(r *idleResult) float64 { return r.ServerCPU }),
		f("generator CPU while connecting (% of a core)", 0, false, func(r *idleResult) float64 { return r.GenCPU }),
		{name: "connections dropped while idle", count: true, get: func(r any) float64 { return float64(r.(*idleResult).Dropped) }},
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func sumErrors(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtNum(v float64, digits int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := fmt.Sprintf("%.*f", digits, v)
	// Thousands separators on the integer part, for the large rates.
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

// scenarioResults holds the runs of one scenario, per server.
type scenarioResults struct {
	title   string
	figures []figure
	runs    map[proto][]any
}

// table renders the medians of both servers and their ratio, as markdown.
func (s *scenarioResults) table(peerName string) string {
	var b strings.Builder
	a, p := s.runs[protoMinichat], s.runs[protoSocketIO]
	fmt.Fprintf(&b, "| %s | minichat | %s | minichat / peer |\n", s.title, peerName)
	b.WriteString("| --- | ---: | ---: | ---: |\n")
	for _, f := range s.figures {
		cell := func(runs []any) (string, float64) {
			if len(runs) == 0 {
				return "-", math.NaN()
			}
			xs := make([]float64, len(runs))
			sum := 0.0
			for i, r := range runs {
				xs[i] = f.get(r)
				sum += xs[i]
			}
			if f.name == "runs back within 20% of the start" {
				return fmt.Sprintf("%d of %d", int(sum), len(runs)), math.NaN()
			}
			m := median(xs)
			txt := fmtNum(m, f.digits)
			if f.count && sum > 0 && len(runs) > 1 {
				txt += fmt.Sprintf(" (%s in all)", fmtNum(sum, 0))
			}
			return txt, m
		}
		ta, ma := cell(a)
		tp, mp := cell(p)
		ratio := "-"
		if f.ratio && mp > 0 && !math.IsNaN(ma) {
			ratio = fmt.Sprintf("%.3g×", ma/mp)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.name, ta, tp, ratio)
	}
	return b.String()
}

// saturation says in which runs the generator used 90% of a core or more.
func (s *scenarioResults) saturation() string {
	var parts []string
	for _, p := range []proto{protoMinichat, protoSocketIO} {
		n := 0
		for _, r := range s.runs[p] {
			if rr, ok := r.(*roomsResult); ok && rr.GenCPU >= 90 {
				n++
			}
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d of the %d runs against %s", n, len(s.runs[p]), p))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "The generator used 90% of a core or more in " + strings.Join(parts, " and ") + ": there it may have bounded the figures."
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// replaceSection puts section (which starts with begin and ends with end)
// into the file at path in place of what is between those marks, or at its
// end when they are absent; with no file, it writes header then section.
func replaceSection(path, header, begin, end, section string) error {
	old, err := os.ReadFile(path)
	var doc string
	switch {
	case os.IsNotExist(err):
		doc = header + section
	case err != nil:
		return err
	default:
		s := string(old)
		i := strings.Index(s, begin)
		j := strings.Index(s, end)
		if i < 0 || j < i {
			doc = strings.TrimRight(s, "\n") + "\n\n" + section
		} else {
			doc = s[:i] + section + strings.TrimPrefix(s[j+len(end):], "\n")
		}
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
