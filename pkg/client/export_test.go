package client

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// WithClock makes the client's typing timers run on clk.
func WithClock(clk *FakeClock) Option {
	return func(o *options) { o.clock = clk }
}

// FakeClock is a clock that moves only when told to (Advance); its
// timers run inside Advance, in the order they are due.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *FakeClock
	at      time.Duration
	f       func()
	stopped bool
}

// AfterFunc implements clock.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now + d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop implements stopper.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves the clock d forward and runs the timers due meanwhile,
// those they start included.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	c.mu.Unlock()
	for {
		c.mu.Lock()
		c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t.stopped })
		slices.SortStableFunc(c.timers, func(a, b *fakeTimer) int { return cmp.Compare(a.at, b.at) })
		if len(c.timers) == 0 || c.timers[0].at > end {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.stopped = true
		c.now = t.at
		c.mu.Unlock()
		t.f()
	}
}
