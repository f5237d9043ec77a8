package testenv

import "sync"

// Race runs do(0..n-1) in n goroutines released together, so that the
// calls overlap as much as they can, and returns when all are done.
func Race(n int, do func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			do(i)
		})
	}
	close(start)
	wg.Wait()
}
