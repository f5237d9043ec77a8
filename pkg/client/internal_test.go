package client

import (
	"testing"
	"time"
)

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	c := &Client{o: defaultOptions()}
	WithBackoff(100*time.Millisecond, 2*time.Second)(&c.o)
	for n := range 40 {
		want := min(100*time.Millisecond<<min(n, 30), 2*time.Second)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(n)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: pause %v outside [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: the pause is always %v, not jittered", n, c.backoff(n))
		}
	}
}

func TestIDSetForgetsTheOldest(t *testing.T) {
	s := newIDSet(2)
	if !s.add("a") || !s.add("b") || s.add("a") {
		t.Fatal("a set of two must take a and b once")
	}
	s.add("c")
	if s.has("a") || !s.has("b") || !s.has("c") {
		t.Fatal("adding a third id must forget the oldest")
	}
}
