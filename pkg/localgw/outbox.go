package localgw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Pushes to one connection are combined: the first sender becomes the
// writer and writes every frame that queues up meanwhile with one write
// call (one syscall), as a busy connection of a room gets many frames at
// once. Each sender still returns only once its frame was written, with
// that write's error.

// corkConn is the socket under the WebSocket library's writer. While
// corked it keeps what is written and sends it all at uncork.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

// keepBytes is the most buffer a connection keeps between batches; an idle
// connection holds none.
const keepBytes = 64 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was kept, within timeout. Writes of other goroutines
// (the library's pongs) wait, so bytes keep their order.
func (c *corkConn) uncork(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Conn.Write(c.buf)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	if cap(c.buf) > keepBytes {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// errUpgradeFailed answers a push to a connection whose upgrade failed.
var errUpgradeFailed = errors.New("the WebSocket upgrade failed")

type outFrame struct {
	data []byte
	done chan error
}

// outbox queues a connection's frames for its current writer.
type outbox struct {
	mu      sync.Mutex
	queue   []outFrame
	writing bool
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// send writes data to c as one text message, with every frame queued for c
// meanwhile.
func (g *Gateway) send(c *connection, data []byte) error {
	done := donePool.Get().(chan error)
	c.out.mu.Lock()
	c.out.queue = append(c.out.queue, outFrame{data, done})
	lead := !c.out.writing
	c.out.writing = true
	c.out.mu.Unlock()
	if lead {
		// Let the pushes that are about to come (a room's other messages,
		// fanned out on other goroutines) queue behind this frame first:
		// under load one write then carries several frames (in make
		// bench's rooms of 8 senders, 6 write calls a message instead of
		// 12); when nothing else is runnable this returns at once.
		runtime.Gosched()
		if g.writeQueued(c) {
			// More came while this sender's frame was written: a goroutine
			// writes it, so that a busy connection does not keep this
			// sender (a handler's fan-out) waiting on others' frames.
			go func() {
				for g.writeQueued(c) {
				}
			}()
		}
	}
	err := <-done
	donePool.Put(done)
	if err != nil {
		return fmt.Errorf("localgw: write to %s: %w", c.id, err)
	}
	return nil
}

// writeQueued writes what is queued, if anything, and reports whether more
// is queued since; false means the writer role was given up.
func (g *Gateway) writeQueued(c *connection) bool {
	c.out.mu.Lock()
	batch := c.out.queue
	c.out.queue = nil
	if len(batch) == 0 {
		c.out.writing = false
		c.out.mu.Unlock()
		return false
	}
	c.out.mu.Unlock()
	g.writeBatch(c, batch)
	c.out.mu.Lock()
	more := len(c.out.queue) > 0
	if !more {
		c.out.writing = false
	}
	c.out.mu.Unlock()
	return more
}

// writeBatch writes frames with one flush and tells each sender how it went.
func (g *Gateway) writeBatch(c *connection, frames []outFrame) {
	errs := make([]error, len(frames))
	if !c.upgraded() {
		for _, f := range frames {
			f.done <- errUpgradeFailed
		}
		return
	}
	c.cork.cork()
	for i, f := range frames {
		// Corked, the library's write only fills memory: it needs no
		// deadline (which would cost it a timer per frame); uncork has one.
		errs[i] = c.ws.Write(context.Background(), websocket.MessageText, f.data)
	}
	flushed := c.cork.uncork(g.limits.WriteTimeout)
	for i, f := range frames {
		if errs[i] == nil {
			errs[i] = flushed
		}
		f.done <- errs[i]
	}
}
