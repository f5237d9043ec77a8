package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// maxWrites is how many connections a request is written on before its
// caller is told ErrTimeout.
const maxWrites = 3

// maxInternalRetries is how many times a send answered `internal` is
// tried again.
const maxInternalRetries = 3

// errConnectionLost ends the client's own requests of a lost connection;
// nobody waits for them.
var errConnectionLost = errors.New("client: connection lost")

type requestKind int

const (
	kindOther       requestKind = iota
	kindSend                    // idempotent by id; acks carry a messageId
	kindJoin                    // joinroom by the application
	kindSubscribe               // subscribe-presence by the application
	kindRejoin                  // joinroom after a reconnect
	kindResubscribe             // subscribe-presence after a reconnect
	kindHeartbeat               // ping by the heartbeat
)

// internal kinds are the client's own, made again for each connection.
func (k requestKind) internal() bool {
	return k == kindRejoin || k == kindResubscribe || k == kindHeartbeat
}

// request is a frame waiting for its answer.
type request struct {
	id        string
	kind      requestKind
	room      string   // of a join
	to        string   // of a private send
	ids       []string // of a presence subscription
	frame     []byte
	seq       uint64
	gen       uint64 // connection it was last written on; 0: to write again
	writes    int
	retries   int       // of a send answered `internal`
	limited   int       // times it was answered `rate-limited` without a wait
	notBefore time.Time // when a rate-limited request may be written again
	timer     *time.Timer
	reply     chan reply // nil for internal requests
	done      chan struct{}
}

type reply struct {
	typ  string
	data []byte
	err  error
}

// newRequestLocked registers a request for f under a fresh id (UUIDv7:
// unique, and it sorts by time in the server's logs).
func (c *Client) newRequestLocked(kind requestKind, f protocol.Request) *request {
	f.ID = uuid.Must(uuid.NewV7()).String()
	data, err := json.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("client: encode request: %v", err)) // a Request of strings always encodes
	}
	c.seq++
	r := &request{id: f.ID, kind: kind, room: f.Room, to: f.To, ids: f.UserIDs, frame: data, seq: c.seq, done: make(chan struct{})}
	if !kind.internal() {
		r.reply = make(chan reply, 1)
	}
	c.pending[r.id] = r
	return r
}

// do sends f and waits for its answer.
func (c *Client) do(ctx context.Context, kind requestKind, f protocol.Request) (reply, error) {
	c.mu.Lock()
	switch c.state {
	case stateIdle, stateDialing:
		c.mu.Unlock()
		return reply{}, ErrNotDialed
	case stateStopped:
		err := c.stopErr
		c.mu.Unlock()
		return reply{}, err
	}
	r := c.newRequestLocked(kind, f)
	stopped := c.ctx.Done()
	c.mu.Unlock()
	c.write(r)
	select {
	case rep := <-r.reply:
		if rep.err != nil {
			return rep, fmt.Errorf("client: %s: %w", f.Action, rep.err)
		}
		if rep.typ == protocol.TypeError {
			var e protocol.Error
			if err := json.Unmarshal(rep.data, &e); err != nil {
				return rep, fmt.Errorf("client: %s: malformed error frame: %w", f.Action, err)
			}
			return rep, &Error{Code: e.Code, Message: e.Message}
		}
		return rep, nil
	case <-ctx.Done():
		c.abandon(r)
		return reply{}, fmt.Errorf("client: %s: %w", f.Action, ctx.Err())
	case <-stopped:
		return reply{}, c.stopError()
	}
}

// abandon forgets a request whose caller stopped waiting.
func (c *Client) abandon(r *request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[r.id] == r {
		c.finish(r, reply{err: context.Canceled})
	}
}

// finish removes r from the pending requests and hands its caller rep.
func (c *Client) finish(r *request, rep reply) {
	delete(c.pending, r.id)
	if r.timer != nil {
		r.timer.Stop()
	}
	close(r.done)
	if r.reply != nil {
		r.reply <- rep
	}
}

// write writes r on the current connection, if there is one; otherwise
// the next connection writes it.
func (c *Client) write(r *request) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	conn, gen := c.conn, c.gen
	c.mu.Unlock()
	if conn != nil {
		c.writeLocked(conn, gen, r)
	}
}

// writeLocked writes r on conn unless it was already written there or is
// answered. The caller holds wmu.
func (c *Client) writeLocked(conn *websocket.Conn, gen uint64, r *request) {
	c.mu.Lock()
	if c.pending[r.id] != r || r.gen == gen || c.conn != conn {
		c.mu.Unlock()
		return
	}
	r.gen = gen
	r.writes++
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer = time.AfterFunc(c.o.requestTimeout, func() { c.expire(r, gen) })
	ctx := c.ctx
	c.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, c.o.requestTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, r.frame); err != nil {
		// The reader sees the connection end and the next one resends r.
		c.log.Debug("minichat: write failed", "err", err)
		conn.CloseNow()
	}
}

// expire runs when r, written on connection gen, was not answered within
// the request timeout. A healthy server answers every request, so the
// connection is taken for dead: it is closed, and the next one writes r
// again, unless r was already written maxWrites times.
func (c *Client) expire(r *request, gen uint64) {
	c.mu.Lock()
	if c.pending[r.id] != r || r.gen != gen {
		c.mu.Unlock()
		return
	}
	var conn *websocket.Conn
	if c.gen == gen {
		conn = c.conn
	}
	if r.kind.internal() || r.writes >= maxWrites {
		c.finish(r, reply{err: ErrTimeout})
	}
	c.mu.Unlock()
	if conn != nil {
		c.log.Warn("minichat: no answer in time, reconnecting", "request", r.id)
		conn.CloseNow()
	}
}

// answer hands a reply frame to the request it names.
func (c *Client) answer(h frameHead, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.pending[h.ID]
	if r == nil {
		if h.Type == protocol.TypeError && h.ID == "" {
			// Typing frames carry no id (a dropped one gets no answer at
			// all): their refusals come unnamed.
			c.log.Warn("minichat: the server refused a request", "code", h.Code, "message", h.Message)
		}
		return
	}
	if h.Type == protocol.TypeError && c.retryLocked(r, h) {
		return
	}
	switch r.kind {
	case kindSend:
		if h.Type == protocol.TypeAck {
			c.ackedLocked(r, data)
		}
	case kindJoin:
		switch h.Type {
		case protocol.TypeUpdate:
			c.joined[r.room] = struct{}{}
			c.seatedLocked(r.room)
		}
	case kindRejoin:
		var lost error
		switch h.Type {
		case protocol.TypeUpdate:
			c.seatedLocked(r.room)
		case protocol.TypeFull:
			lost = ErrFull
		case protocol.TypeError:
			lost = &Error{Code: h.Code, Message: h.Message}
		}
		if lost != nil {
			delete(c.joined, r.room)
			c.dropRoomLocked(r.room)
			c.events.push(RoomLost{Room: r.room, Err: lost})
		}
	case kindSubscribe:
		if h.Type == protocol.TypePresenceState {
			for _, id := range r.ids {
				c.presence[id] = struct{}{}
			}
		}
	case kindResubscribe:
		var ps protocol.PresenceState
		if h.Type == protocol.TypePresenceState && json.Unmarshal(data, &ps) == nil {
			for _, p := range ps.Users {
				c.events.push(Presence{p})
			}
		}
	}
	c.finish(r, reply{typ: h.Type, data: data})
}

// ackedLocked accounts for the seq of a private message this client sent:
// it never comes back to this connection live. A room echoes a message to
// every seat, the sender's included, so a room's ack is left to the echo.
func (c *Client) ackedLocked(r *request, data []byte) {
	var a protocol.Ack
	if json.Unmarshal(data, &a) != nil || a.MessageID == "" || a.Room != "" {
		return
	}
	m := protocol.ChatMessage{MessageID: a.MessageID, Seq: a.Seq, At: a.At, From: c.session.UserID, To: r.to}
	c.offerLocked(c.convLocked(r.to), entry{m: m, own: true})
}

// retryLocked schedules a request refused for a passing reason to be
// written again with the same id, and reports whether it did: any request
// refused as rate-limited (it was not carried out), after the wait the
// server asked for, and a send answered `internal` a few times.
func (c *Client) retryLocked(r *request, h frameHead) bool {
	var delay time.Duration
	switch {
	case h.Code == protocol.CodeRateLimited && h.RetryAfterMs > 0:
		delay = time.Duration(h.RetryAfterMs) * time.Millisecond
		// Clients refused together should not all come back at once.
		delay += rand.N(delay/10 + 1)
	case h.Code == protocol.CodeRateLimited:
		// A server that does not say how long: wait about as long as a
		// few sends take, longer when refused again.
		r.limited++
		delay = 200 * time.Millisecond << min(r.limited-1, 3)
		delay += rand.N(delay/2 + 1)
	case h.Code == protocol.CodeInternal && r.kind == kindSend && r.retries < maxInternalRetries:
		r.retries++
		delay = c.o.backoffMin << (r.retries - 1)
		delay += rand.N(delay/2 + 1)
	default:
		return false
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.gen = 0
	r.notBefore = time.Now().Add(delay)
	r.timer = time.AfterFunc(delay, func() { c.write(r) })
	return true
}

// SendPrivate sends content to the user to and returns the ack, which
// carries the stored message's id and time.
func (c *Client) SendPrivate(ctx context.Context, to, content string) (protocol.Ack, error) {
	return c.send(ctx, protocol.Request{Action: protocol.ActionPrivateMessage, To: to, Content: content, LastSeq: c.lastSeq(to)})
}

// SendGroup sends msg to a room this user sits in. Every seated
// connection, this one included, also gets it as a GroupMessage event.
func (c *Client) SendGroup(ctx context.Context, room, msg string) (protocol.Ack, error) {
	return c.send(ctx, protocol.Request{Action: protocol.ActionGroupMessage, Room: room, Msg: msg})
}

func (c *Client) send(ctx context.Context, f protocol.Request) (protocol.Ack, error) {
	// The message ends this user's typing there.
	c.stopTyping(ctx, Target{To: f.To, Room: f.Room})
	rep, err := c.do(ctx, kindSend, f)
	if err != nil {
		return protocol.Ack{}, err
	}
	var a protocol.Ack
	if err := json.Unmarshal(rep.data, &a); err != nil || rep.typ != protocol.TypeAck {
		return protocol.Ack{}, fmt.Errorf("client: %s: unexpected answer %q", f.Action, rep.typ)
	}
	return a, nil
}

// JoinRoom takes a seat in room (keeping the one this user already holds)
// and returns the room's seats; ErrFull when all eight are taken. The
// client re-joins the room after every reconnect until LeaveRoom, and
// fetches the room's messages it missed meanwhile. What was said before
// this client sat down is not delivered; RoomHistory reads it.
func (c *Client) JoinRoom(ctx context.Context, room string) (protocol.Update, error) {
	rep, err := c.do(ctx, kindJoin, protocol.Request{Action: protocol.ActionJoinRoom, Room: room})
	if err != nil {
		return protocol.Update{}, err
	}
	switch rep.typ {
	case protocol.TypeFull:
		return protocol.Update{}, fmt.Errorf("client: join %s: %w", room, ErrFull)
	case protocol.TypeUpdate:
		var u protocol.Update
		if err := json.Unmarshal(rep.data, &u); err != nil {
			return protocol.Update{}, fmt.Errorf("client: join %s: %w", room, err)
		}
		c.mu.Lock()
		session := c.ctx
		c.mu.Unlock()
		go func() {
			if err := c.afterJoin(session, room); err != nil {
				c.log.Warn("minichat: reading a room's messages after joining failed", "room", room, "err", err)
			}
		}()
		return u, nil
	default:
		return protocol.Update{}, fmt.Errorf("client: join %s: unexpected answer %q", room, rep.typ)
	}
}

// LeaveRoom gives up this user's seat in room; the client stops
// re-joining it at once.
func (c *Client) LeaveRoom(ctx context.Context, room string) error {
	c.mu.Lock()
	delete(c.joined, room)
	// Without a seat, this client is told nothing of the room: what it
	// held goes stale.
	c.dropRoomLocked(room)
	c.mu.Unlock()
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionLeaveRoom, Room: room})
	return err
}

// DeleteMessage deletes a private message this user sent; deleting one
// already deleted succeeds.
func (c *Client) DeleteMessage(ctx context.Context, messageID string) error {
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionMessageDeleted, MessageID: messageID})
	return err
}

// SetAvatar changes this user's avatar (typically one emoji) over the
// WebSocket, which tells the users who share a room or a conversation.
func (c *Client) SetAvatar(ctx context.Context, avatar string) error {
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionAvatarUpdated, Avatar: avatar})
	return err
}

// MarkRead marks the conversation with peerID read up to and including
// messageID, one of its messages (else a not-found *Error). The peer and
// this user's other connections get a Read event; a marker never moves
// back, so an older messageID changes nothing.
func (c *Client) MarkRead(ctx context.Context, peerID, messageID string) error {
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionRead, PeerID: peerID, MessageID: messageID})
	return err
}

// Ping makes a round trip to the server. When it returns, the frames the
// server sent this connection before the pong are queued for Events.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionPing})
	return err
}
