package localgw

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// TestConcurrentPushesArriveWholeAndInOrder pushes from many goroutines to
// one connection at once, as a room's fan-outs do: every frame arrives
// exactly once and intact, each goroutine's in the order it pushed them,
// and frames went out combined (fewer socket writes than frames).
func TestConcurrentPushesArriveWholeAndInOrder(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect")},
	}, map[string]any{
		"connect": func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
		},
		"disconnect": ok,
	})
	const senders, each = 16, 40
	c := h.dial("", nil)
	id := h.nextWS("connect").RequestContext.ConnectionID
	// $connect has run; the socket is registered just after.
	deadline := time.Now().Add(wait)
	for h.gw.lookup(id) == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	conn := h.gw.lookup(id)
	if conn == nil || !conn.upgraded() {
		t.Fatal("the connection never opened")
	}
	// The first socket write waits until every sender has pushed and
	// frames are queued behind it: then they must go out together. (The
	// first writer yields before it writes, so its own batch may already
	// hold several senders' frames.)
	var pushing atomic.Int32
	release := make(chan struct{})
	conn.cork.mu.Lock()
	writes := &countingConn{Conn: conn.cork.Conn, release: release}
	conn.cork.Conn = writes
	conn.cork.mu.Unlock()
	go func() {
		defer close(release)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			conn.out.mu.Lock()
			queued := len(conn.out.queue)
			conn.out.mu.Unlock()
			// One frame is about 220 bytes on the wire.
			if pushing.Load() == senders && (queued > 0 || writes.firstBytes.Load() > 400) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	var g sync.WaitGroup
	for s := range senders {
		g.Go(func() {
			pushing.Add(1)
			for n := range each {
				if err := h.gw.PostToConnection(context.Background(), id, fmt.Appendf(nil, `{"s":%d,"n":%d,"pad":"%0200d"}`, s, n, 0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		var f struct{ S, N int }
		if err := json.Unmarshal([]byte(read(t, c)), &f); err != nil {
			t.Fatal(err)
		}
		s, n := f.S, f.N
		if n != next[s] {
			t.Fatalf("sender %d: frame %d arrived when %d was next", s, n, next[s])
		}
		next[s]++
	}
	g.Wait()
	if w := writes.count(); w >= senders*each {
		t.Errorf("%d frames took %d socket writes: none were combined", senders*each, w)
	} else {
		t.Logf("%d frames in %d socket writes", senders*each, w)
	}
}

// countingConn counts the writes that reach the socket; the first waits
// for release.
type countingConn struct {
	net.Conn
	release chan struct{}
	mu      sync.Mutex
	n       int
	// firstBytes is the size of the first write, once it started.
	firstBytes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n++
	first := c.n == 1
	c.mu.Unlock()
	if first {
		c.firstBytes.Store(int64(len(p)))
		<-c.release
	}
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestPushRightAfterTheHandshake pushes as soon as the client has its 101,
// as another connection's handler may: the push lands (on AWS a connection
// takes pushes once its $connect succeeded).
func TestPushRightAfterTheHandshake(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect")},
	}, map[string]any{"connect": accept, "disconnect": ok})
	for range 20 {
		c := h.dial("", nil)
		id := h.nextWS("connect").RequestContext.ConnectionID
		// The client has its 101 (dial returned): the first push must land.
		if err := h.gw.PostToConnection(context.Background(), id, []byte("hello")); err != nil {
			t.Fatalf("push right after the handshake: %v", err)
		}
		if got := read(t, c); got != "hello" {
			t.Fatalf("read %q", got)
		}
	}
}
