package client

import "time"

// clock runs the timers of typing indicators (the 3 s repeat, the 6 s
// expiry), so that tests can drive them without waiting.
type clock interface {
	AfterFunc(d time.Duration, f func()) stopper
}

// stopper is a timer that can be stopped; *time.Timer is one.
type stopper interface {
	Stop() bool
}

type realClock struct{}

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
