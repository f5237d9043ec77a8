package client

import (
	"testing"
	"time"

	"github.com/google/uuid"
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

func TestCursorAtSortsBeforeTheIDsOfItsMillisecond(t *testing.T) {
	for range 100 {
		id := uuid.Must(uuid.NewV7())
		sec, nsec := id.Time().UnixTime()
		at := time.Unix(sec, nsec)
		cur := cursorAt(at)
		if !(cur <= id.String()) {
			t.Fatalf("cursor %s of %v sorts after %s", cur, at, id)
		}
		if next := cursorAt(at.Add(time.Millisecond)); !(next > id.String()) {
			t.Fatalf("cursor %s of the next millisecond sorts before %s", next, id)
		}
		if u, err := uuid.Parse(cur); err != nil || u.Version() != 7 || u.String() != cur {
			t.Fatalf("cursor %s is not a lowercase UUIDv7: %v", cur, err)
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
