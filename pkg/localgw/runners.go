package localgw

import "time"

// Invocations run on goroutines of their own, so that one that overruns
// its deadline can be abandoned, as Lambda ends it. A new goroutine per
// invocation would start with a small stack and copy it, doubling, down to
// a handler's depth every time (6% of the server's CPU under make bench's
// rooms load went to copystack). Runners keep theirs: one that finished an
// invocation waits a little for the next before it ends.
type runners struct {
	tasks chan func()
}

// runnerIdle is how long a runner waits for its next invocation; short,
// so that a quiet gateway keeps none.
const runnerIdle = 2 * time.Second

func newRunners() *runners { return &runners{tasks: make(chan func())} }

// run calls task on an idle runner, or on a new one if none is idle.
func (r *runners) run(task func()) {
	select {
	case r.tasks <- task:
	default:
		go r.serve(task)
	}
}

func (r *runners) serve(task func()) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		task()
		idle.Reset(runnerIdle)
		select {
		case task = <-r.tasks:
		case <-idle.C:
			return
		}
	}
}
