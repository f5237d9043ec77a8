package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// Typing states and timings of protocol v1.1: a client repeats start
// every TypingRepeat while its user types, and shows a user as typing for
// at most TypingExpiry after their last start.
const (
	TypingStart  = "start"
	TypingStop   = "stop"
	TypingRepeat = 3 * time.Second
	TypingExpiry = 6 * time.Second
)

// Target is where a typing indicator goes: a user (To, a user id) or a
// room; exactly one is set.
type Target struct {
	To, Room string
}

// typingKey names one user's typing in one place: a room, or ""
// for typing to this user.
type typingKey struct {
	from, room string
}

// typist is someone typing to this user or in one of its rooms.
type typist struct {
	last   protocol.Typing // their last start
	expiry stopper
}

// Typing tells t that this user is typing (true) or stopped (false).
// While typing, the client sends start again every TypingRepeat, until
// Typing(false) or a message to t, so that the indicator does not expire
// on the other side; Typing(true) while that runs sends nothing, and
// Typing(false) sends stop only after a start. Indicators are best
// effort: their frames carry no id and get no answer (the server drops
// those over 2 a second without a word), so only errors of this client
// are returned, and one made while the client reconnects is not sent. A
// refusal (no such user, no seat in the room) is logged.
func (c *Client) Typing(ctx context.Context, t Target, typing bool) error {
	if (t.To == "") == (t.Room == "") {
		return errors.New("client: typing: set either To or Room")
	}
	if !typing {
		return c.stopTyping(ctx, t)
	}
	c.mu.Lock()
	if _, ok := c.typingOut[t]; ok {
		c.mu.Unlock()
		return nil
	}
	c.armTypingLocked(t)
	c.mu.Unlock()
	err := c.fire(ctx, typingRequest(t, TypingStart))
	if err != nil {
		c.mu.Lock()
		if tm, ok := c.typingOut[t]; ok {
			tm.Stop()
			delete(c.typingOut, t)
		}
		c.mu.Unlock()
	}
	return err
}

// armTypingLocked schedules the next start to t.
func (c *Client) armTypingLocked(t Target) {
	var tm stopper
	tm = c.o.clock.AfterFunc(TypingRepeat, func() {
		c.mu.Lock()
		current, ctx := c.typingOut[t] == tm, c.ctx
		c.mu.Unlock()
		if !current {
			return // stopped meanwhile
		}
		if err := c.fire(ctx, typingRequest(t, TypingStart)); errors.Is(err, ErrClosed) {
			return
		}
		c.mu.Lock()
		if c.typingOut[t] == tm {
			c.armTypingLocked(t)
		}
		c.mu.Unlock()
	})
	c.typingOut[t] = tm
}

// stopTyping ends the repeat of starts to t, and tells t, if it runs.
func (c *Client) stopTyping(ctx context.Context, t Target) error {
	c.mu.Lock()
	tm, ok := c.typingOut[t]
	if ok {
		tm.Stop()
		delete(c.typingOut, t)
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return c.fire(ctx, typingRequest(t, TypingStop))
}

func typingRequest(t Target, state string) protocol.Request {
	return protocol.Request{Action: protocol.ActionTyping, To: t.To, Room: t.Room, State: state}
}

// fire writes f, which expects no answer, on the current connection; with
// none (the client is reconnecting) f is dropped.
func (c *Client) fire(ctx context.Context, f protocol.Request) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("client: %s: %w", f.Action, err)
	}
	c.mu.Lock()
	switch c.state {
	case stateIdle, stateDialing:
		c.mu.Unlock()
		return ErrNotDialed
	case stateStopped:
		c.mu.Unlock()
		return c.stopError()
	}
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.o.requestTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("client: %s: %w", f.Action, err)
	}
	return nil
}

// typingFrame turns pushed typing frames into Typing events: one per
// start, and a stop when a stop comes or no start within TypingExpiry.
func (c *Client) typingFrame(t protocol.Typing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := typingKey{from: t.From, room: t.Room}
	old, typing := c.typingIn[k]
	switch t.State {
	case TypingStart:
		if typing {
			old.expiry.Stop()
		} else {
			c.events.push(Typing{Typing: t})
		}
		ty := &typist{last: t}
		ty.expiry = c.o.clock.AfterFunc(TypingExpiry, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.typingIn[k] == ty {
				delete(c.typingIn, k)
				stop := ty.last
				stop.State = TypingStop
				c.events.push(Typing{Typing: stop, Expired: true})
			}
		})
		c.typingIn[k] = ty
	case TypingStop:
		if typing {
			c.typingEndedLocked(t.From, t.Room)
		}
	}
}

// typingEndedLocked ends the typing of user from in room ("": to this
// user), if they are typing there: they stopped, or sent the message.
func (c *Client) typingEndedLocked(from, room string) {
	k := typingKey{from: from, room: room}
	ty, ok := c.typingIn[k]
	if !ok {
		return
	}
	ty.expiry.Stop()
	delete(c.typingIn, k)
	stop := ty.last
	stop.State = TypingStop
	c.events.push(Typing{Typing: stop})
}
