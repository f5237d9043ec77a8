package memtrim

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRun: a release once a fall to half the peak has ended, none for a
// small or partial fall or while it goes on, a second one period after
// each, and another pair after the count rises and falls again.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var open, released atomic.Int64
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			Run(ctx, time.Second, 100, func() int { return int(open.Load()) }, func() { released.Add(1) })
			close(done)
		}()
		step := func(n int64, want int64, why string) {
			t.Helper()
			open.Store(n)
			time.Sleep(time.Second + time.Millisecond)
			synctest.Wait()
			if got := released.Load(); got != want {
				t.Fatalf("%s: %d releases, want %d", why, got, want)
			}
		}
		step(150, 0, "rising")
		step(60, 0, "a fall of 90, under the smallest drop")
		step(60, 0, "that fall, still")
		step(2000, 0, "a spike")
		step(1200, 0, "down to more than half the peak")
		step(900, 0, "down to under half the peak, still falling")
		step(900, 1, "the fall over")
		step(800, 2, "a period later: the second release, whatever the count")
		step(700, 2, "a little further down: counted from the second release")
		step(700, 2, "still")
		step(2000, 2, "a spike again")
		step(300, 2, "down, still falling")
		step(305, 3, "the fall over, with a few connecting")
		step(305, 4, "its second release")
		step(3000, 4, "another spike")
		step(0, 4, "all closed")
		step(0, 5, "still")
		step(0, 6, "its second release")
		step(0, 6, "and still: no more")
		step(3000, 6, "a spike")
		step(1000, 6, "down, still falling")
		step(1000, 7, "the fall over")
		step(2500, 8, "a spike by the second release")
		step(1000, 8, "down from it, still falling: counted from the second release")
		step(1000, 9, "that fall over")
		cancel()
		<-done
	})
}
