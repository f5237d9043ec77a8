package limitertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// Run runs the conformance suite of chat.Limiter: one subtest per
// documented behaviour, each on a fresh limiter from newLimiter.
func Run(t *testing.T, newLimiter func(t *testing.T) chat.Limiter) {
	for _, g := range []struct {
		name  string
		tests []limiterTest
	}{{"Allow", allowTests}, {"Hit", hitTests}} {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLimiter(t)) })
			}
		})
	}
}

type limiterTest struct {
	name string
	fn   func(t *testing.T, l chat.Limiter)
}

// now is the current time at millisecond precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func newKey() string { return uuid.NewString() }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var allowTests = []limiterTest{
	{"TokenBucket", testAllowTokenBucket},
	{"RetryAfter", testAllowRetryAfter},
	{"IndependentKeys", testAllowIndependentKeys},
	{"Concurrent", testAllowConcurrent},
}

// allowSeq calls Allow once per entry of want, all at the same instant.
func allowSeq(t *testing.T, s chat.Limiter, key string, rate float64, burst int, at time.Time, want ...bool) {
	t.Helper()
	for i, w := range want {
		ok, wait, err := s.Allow(t.Context(), key, rate, burst, at)
		must(t, err, "Allow")
		if ok != (wait == 0) {
			t.Fatalf("Allow(%s) call %d: ok %t with retryAfter %s", key, i, ok, wait)
		}
		if ok != w {
			t.Fatalf("Allow(%s) call %d at %s: got %t, want %t", key, i, at.Format(time.RFC3339Nano), ok, w)
		}
	}
}

// testAllowTokenBucket drives time through the now argument only; the
// durations are exact in binary so that no store rounds a token away.
func testAllowTokenBucket(t *testing.T, s chat.Limiter) {
	const rate, burst = 2.0, 3
	t0 := now()
	key := "send#" + newKey()
	// A new bucket is full.
	allowSeq(t, s, key, rate, burst, t0, true, true, true, false, false)
	// Half a second at 2/s is one token.
	allowSeq(t, s, key, rate, burst, t0.Add(500*time.Millisecond), true, false)
	// A quarter second is half a token: not enough, but it is kept.
	allowSeq(t, s, key, rate, burst, t0.Add(750*time.Millisecond), false)
	allowSeq(t, s, key, rate, burst, t0.Add(time.Second), true, false)
	// A long pause refills only up to the burst.
	allowSeq(t, s, key, rate, burst, t0.Add(time.Hour), true, true, true, false)
}

// testAllowRetryAfter: a refusal says how long until a token is back, and
// waiting exactly that long is enough.
func testAllowRetryAfter(t *testing.T, s chat.Limiter) {
	const rate, burst = 4.0, 2
	t0 := now()
	key := "send#" + newKey()
	allowSeq(t, s, key, rate, burst, t0, true, true)
	ok, wait, err := s.Allow(t.Context(), key, rate, burst, t0)
	must(t, err, "Allow")
	if ok || wait != 250*time.Millisecond {
		t.Fatalf("third Allow at once on a bucket of 2 at 4/s: ok %t, retryAfter %s, want false and 250ms", ok, wait)
	}
	_, wait, err = s.Allow(t.Context(), key, rate, burst, t0.Add(100*time.Millisecond))
	must(t, err, "Allow")
	if wait != 150*time.Millisecond {
		t.Fatalf("100 ms later: retryAfter %s, want 150ms", wait)
	}
	allowSeq(t, s, key, rate, burst, t0.Add(250*time.Millisecond), true, false)
}

func testAllowIndependentKeys(t *testing.T, s chat.Limiter) {
	t0 := now()
	a, b := "send#"+newKey(), "send#"+newKey()
	allowSeq(t, s, a, 1, 2, t0, true, true, false)
	allowSeq(t, s, b, 1, 2, t0, true, true, false)
	allowSeq(t, s, a+"0", 1, 2, t0, true, true, false)
	allowSeq(t, s, "login#"+a, 1, 1, t0, true, false)
	allowSeq(t, s, a, 1, 2, t0.Add(time.Second), true, false)
	allowSeq(t, s, b, 1, 2, t0.Add(time.Second), true, false)
}

func testAllowConcurrent(t *testing.T, s chat.Limiter) {
	const n, burst = 16, 5
	ctx := t.Context()
	t0 := now()
	key := "send#" + newKey()
	oks := make([]bool, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) {
		oks[i], _, errs[i] = s.Allow(ctx, key, 1, burst, t0)
	})
	allowed := 0
	for i := range n {
		must(t, errs[i], fmt.Sprintf("Allow %d", i))
		if oks[i] {
			allowed++
		}
	}
	if allowed != burst {
		t.Fatalf("Allow by %d callers at once on a bucket of %d: %d allowed, want %d", n, burst, allowed, burst)
	}
}

var hitTests = []limiterTest{
	{"FixedWindow", testHitFixedWindow},
	{"IndependentKeys", testHitIndependentKeys},
	{"Concurrent", testHitConcurrent},
}

func hit(t *testing.T, s chat.Limiter, key string, window time.Duration, at time.Time, want int) {
	t.Helper()
	n, err := s.Hit(t.Context(), key, window, at)
	must(t, err, "Hit")
	if n != want {
		t.Fatalf("Hit(%s) at %s: got %d, want %d", key, at.Format(time.RFC3339Nano), n, want)
	}
}

func hits(t *testing.T, s chat.Limiter, key string, window time.Duration, at time.Time, want int) {
	t.Helper()
	n, err := s.Hits(t.Context(), key, window, at)
	must(t, err, "Hits")
	if n != want {
		t.Fatalf("Hits(%s) at %s: got %d, want %d", key, at.Format(time.RFC3339Nano), n, want)
	}
}

// windowStart is the start of the window of length w that holds at; windows
// start at multiples of w since the Unix epoch.
func windowStart(at time.Time, w time.Duration) time.Time {
	return time.Unix(0, at.UnixNano()/int64(w)*int64(w)).UTC()
}

// testHitFixedWindow uses a 7 s window, which divides no minute or hour, so
// a store that aligns windows on anything but the Unix epoch fails.
func testHitFixedWindow(t *testing.T, s chat.Limiter) {
	const w = 7 * time.Second
	key := "login#" + newKey()
	start := windowStart(now(), w)
	last := start.Add(w - time.Millisecond)

	hits(t, s, key, w, start, 0)
	hit(t, s, key, w, start, 1)
	hit(t, s, key, w, start.Add(3*time.Second), 2)
	hit(t, s, key, w, last, 3)
	// Hits reads without counting.
	hits(t, s, key, w, start, 3)
	hits(t, s, key, w, last, 3)

	// The next window starts from zero.
	next := start.Add(w)
	hits(t, s, key, w, next, 0)
	hit(t, s, key, w, next, 1)
	hits(t, s, key, w, next.Add(w-time.Millisecond), 1)
	hits(t, s, key, w, next.Add(w), 0)
}

func testHitIndependentKeys(t *testing.T, s chat.Limiter) {
	const w = time.Minute
	at := now()
	a := "login#alice"
	hit(t, s, a, w, at, 1)
	hit(t, s, a, w, at, 2)
	hits(t, s, "login#bob", w, at, 0)
	hits(t, s, a+"0", w, at, 0)
	hit(t, s, "ip#127.0.0.1", w, at, 1)
	hits(t, s, a, w, at, 2)
	// Counters and token buckets are separate even under one name.
	allowSeq(t, s, a, 1, 1, at, true, false)
	hits(t, s, a, w, at, 2)
}

func testHitConcurrent(t *testing.T, s chat.Limiter) {
	const n = 16
	const w = time.Hour
	ctx := t.Context()
	at := now()
	key := "ip#" + newKey()
	counts := make([]int, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) {
		counts[i], errs[i] = s.Hit(ctx, key, w, at)
	})
	for i := range n {
		must(t, errs[i], fmt.Sprintf("Hit %d", i))
	}
	// Every hit counts once: the answers are 1..n in some order.
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("Hit by %d callers at once: answers %v, want 1..%d each once", n, counts, n)
		}
	}
	hits(t, s, key, w, at, n)
}
