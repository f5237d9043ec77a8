package memlimit

import (
	"context"
	"sync"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

var _ chat.Limiter = (*MemoryLimiter)(nil)

// MemoryLimiter is a chat.Limiter in memory. It is safe for concurrent use.
// Buckets are GCRA (the token bucket as one time per key: when it will be
// full again); counters are one count per key and fixed window. Both are
// forgotten once they no longer matter, in sweeps whose cost is spread over
// the calls that grew the maps.
type MemoryLimiter struct {
	mu        sync.Mutex
	tats      map[string]time.Time
	counts    map[counterKey]int
	sweepTats int
	sweepCnts int
}

type counterKey struct {
	key   string
	start int64 // window start, Unix nanoseconds
	len   time.Duration
}

// New returns an empty limiter.
func New() *MemoryLimiter {
	return &MemoryLimiter{tats: map[string]time.Time{}, counts: map[counterKey]int{}, sweepTats: 1024, sweepCnts: 1024}
}

// Allow takes one token from the bucket named key.
func (l *MemoryLimiter) Allow(_ context.Context, key string, rate float64, burst int, now time.Time) (bool, time.Duration, error) {
	interval := time.Duration(float64(time.Second) / rate)
	tau := time.Duration(burst-1) * interval
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	if wait := tat.Sub(now) - tau; wait > 0 {
		return false, wait, nil
	}
	l.tats[key] = tat.Add(interval)
	if len(l.tats) >= l.sweepTats {
		for k, t := range l.tats {
			if t.Before(now) {
				delete(l.tats, k)
			}
		}
		l.sweepTats = max(1024, 2*len(l.tats))
	}
	return true, 0, nil
}

func window(key string, w time.Duration, now time.Time) counterKey {
	n := now.UnixNano()
	return counterKey{key: key, start: n - n%int64(w), len: w}
}

// Hit adds one to the counter of key's window at now.
func (l *MemoryLimiter) Hit(_ context.Context, key string, w time.Duration, now time.Time) (int, error) {
	k := window(key, w, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[k]++
	n := l.counts[k]
	if len(l.counts) >= l.sweepCnts {
		for c := range l.counts {
			if c.start+int64(c.len) <= now.UnixNano() {
				delete(l.counts, c)
			}
		}
		l.sweepCnts = max(1024, 2*len(l.counts))
	}
	return n, nil
}

// Hits returns the counter of key's window at now.
func (l *MemoryLimiter) Hits(_ context.Context, key string, w time.Duration, now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[window(key, w, now)], nil
}
