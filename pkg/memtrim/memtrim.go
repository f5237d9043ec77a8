package memtrim

import (
	"context"
	"time"
)

// MinDrop is the smallest fall in open connections worth a collection:
// below it the memory to return is a few MiB at most.
const MinDrop = 256

// Run looks at open() every period and, once the count has fallen to half
// of its peak since the last release or below, by at least minDrop, and
// then held about still for a period (moved by less than minDrop/8: the
// closing wave is over, and what it freed is garbage, while the churn of
// a live server goes on), calls release once and starts over from the
// count then. It returns when ctx is done.
func Run(ctx context.Context, period time.Duration, minDrop int, open func() int, release func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	peak := open()
	last := peak
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := open()
		peak = max(peak, n)
		if peak-n >= minDrop && n <= peak/2 && abs(n-last) < minDrop/8 {
			release()
			peak = n
		}
		last = n
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
