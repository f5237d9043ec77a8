package pushertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Conn is one open client connection.
type Conn struct {
	// ID is the connection's id, as the pusher names it.
	ID string
	// Read returns the next frame the connection received.
	Read func(ctx context.Context) ([]byte, error)
	// Close closes the connection from the client's side.
	Close func()
}

// Env is what the suite runs against.
type Env struct {
	Pusher chat.Pusher
	// Dial opens a connection the pusher can reach; it returns once the
	// connection is open.
	Dial func(t *testing.T) Conn
}

// wait bounds every step; nothing here should take more than a moment.
const wait = 10 * time.Second

// unknownID is a connection id that was never given out.
const unknownID = "never-connected-0000="

// Run runs the suite, with a fresh Env for each case.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Env)
	}{
		{"DeliversInOrder", testDeliversInOrder},
		{"UnknownIsGone", testUnknownIsGone},
		{"ClosedIsGone", testClosedIsGone},
		{"Disconnect", testDisconnect},
		{"Concurrent", testConcurrent},
		{"TooLargeIsNotGone", testTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return c
}

func testDeliversInOrder(t *testing.T, e Env) {
	c := e.Dial(t)
	defer c.Close()
	alive, err := e.Pusher.Alive(ctx(t), c.ID)
	if err != nil || !alive {
		t.Fatalf("Alive of an open connection: %v, %v", alive, err)
	}
	for i := range 10 {
		if err := e.Pusher.Push(ctx(t), c.ID, fmt.Appendf(nil, `{"n":%d,"text":"héllo"}`, i)); err != nil {
			t.Fatalf("Push %d: %v", i, err)
		}
	}
	for i := range 10 {
		got, err := c.Read(ctx(t))
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if want := fmt.Sprintf(`{"n":%d,"text":"héllo"}`, i); string(got) != want {
			t.Fatalf("frame %d = %s, want %s", i, got, want)
		}
	}
}

func testUnknownIsGone(t *testing.T, e Env) {
	if err := e.Pusher.Push(ctx(t), unknownID, []byte(`{}`)); !errors.Is(err, chat.ErrGone) {
		t.Errorf("Push to an unknown connection: %v, want ErrGone", err)
	}
	alive, err := e.Pusher.Alive(ctx(t), unknownID)
	if err != nil || alive {
		t.Errorf("Alive of an unknown connection: %v, %v; want false, nil", alive, err)
	}
}

// eventually retries check until it holds: a client's close reaches the
// server a moment after the client made it.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testClosedIsGone(t *testing.T, e Env) {
	c := e.Dial(t)
	c.Close()
	eventually(t, "Alive after the client closed", func() error {
		if alive, err := e.Pusher.Alive(ctx(t), c.ID); err != nil || alive {
			return fmt.Errorf("alive %v, err %v", alive, err)
		}
		return nil
	})
	if err := e.Pusher.Push(ctx(t), c.ID, []byte(`{}`)); !errors.Is(err, chat.ErrGone) {
		t.Errorf("Push to a closed connection: %v, want ErrGone", err)
	}
}

func testDisconnect(t *testing.T, e Env) {
	c := e.Dial(t)
	defer c.Close()
	if err := e.Pusher.Disconnect(ctx(t), c.ID); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if _, err := c.Read(ctx(t)); err == nil {
		t.Fatal("the client read a frame from a connection the server closed")
	}
	eventually(t, "Push after Disconnect", func() error {
		if err := e.Pusher.Push(ctx(t), c.ID, []byte(`{}`)); !errors.Is(err, chat.ErrGone) {
			return fmt.Errorf("%v, want ErrGone", err)
		}
		return nil
	})
	if err := e.Pusher.Disconnect(ctx(t), c.ID); !errors.Is(err, chat.ErrGone) {
		t.Errorf("Disconnect of a closed connection: %v, want ErrGone", err)
	}
}

func testConcurrent(t *testing.T, e Env) {
	c := e.Dial(t)
	defer c.Close()
	const senders, each = 8, 20
	var g sync.WaitGroup
	for s := range senders {
		g.Go(func() {
			for n := range each {
				if err := e.Pusher.Push(ctx(t), c.ID, fmt.Appendf(nil, "%d-%d", s, n)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	var got []string
	for range senders * each {
		b, err := c.Read(ctx(t))
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(got), err)
		}
		got = append(got, string(b))
	}
	g.Wait()
	slices.Sort(got)
	if n := len(slices.Compact(got)); n != senders*each {
		t.Errorf("%d distinct frames of %d pushed", n, senders*each)
	}
}

func testTooLarge(t *testing.T, e Env) {
	c := e.Dial(t)
	defer c.Close()
	big := make([]byte, 129<<10)
	for i := range big {
		big[i] = 'a'
	}
	err := e.Pusher.Push(ctx(t), c.ID, big)
	if err == nil || errors.Is(err, chat.ErrGone) {
		t.Fatalf("Push of 129 KiB: %v, want an error that is not ErrGone", err)
	}
	if err := e.Pusher.Push(ctx(t), c.ID, []byte(`{"after":1}`)); err != nil {
		t.Fatalf("Push after a refused one: %v", err)
	}
	if b, err := c.Read(ctx(t)); err != nil || string(b) != `{"after":1}` {
		t.Fatalf("the connection after a refused push read %s, %v", b, err)
	}
}
