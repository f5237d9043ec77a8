package client

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// pageSize is the most messages the server gives in one history page.
const pageSize = 100

// toEnd asks repair for everything history holds after what the stream
// holds (a room after a re-join, whose newest seq nobody told).
const toEnd = -1

// stream puts the messages of one conversation (peer) or one room epoch
// (room) in seq order: seq grows by exactly 1 per message there, so a
// message whose seq is more than 1 past the last one delivered shows a
// hole, which waits a grace period for the missing messages (pushes of
// concurrent senders overtake one another) and is then fetched from
// history.
type stream struct {
	peer, room string
	// held is the seq up to which every message was delivered or
	// accounted for (this client's own sends, which come back as acks);
	// heldID is the messageId of a message at or before held, the cursor
	// that fetches what follows.
	held   int64
	heldID string
	// anchored is false for a room until its baseline (the newest seq
	// when this client took its seat) is known; baselining says it is
	// being read, and messages wait in early until it is.
	anchored   bool
	baselining bool
	// early holds the messages past a hole, by seq.
	early    map[int64]entry
	grace    *time.Timer
	failures int // consecutive failed repairs, to back off
	// fetchMu runs one repair of the stream at a time.
	fetchMu sync.Mutex
}

// entry is a message waiting for its turn.
type entry struct {
	m       protocol.ChatMessage
	catchUp bool // from history
	own     bool // an ack of this client's send: accounted, never shown
}

func newStream(peer, room string, anchored bool) *stream {
	return &stream{peer: peer, room: room, anchored: anchored, early: map[int64]entry{}}
}

// convLocked returns the stream of the conversation with peer. One this
// client has no record of had no message when it dialed: it starts at 0.
func (c *Client) convLocked(peer string) *stream {
	st := c.convs[peer]
	if st == nil {
		st = newStream(peer, "", true)
		c.convs[peer] = st
	}
	return st
}

// lastSeq is the newest seq held of the conversation with peer (past a
// hole too), sent with a private send as the protocol's lastSeq: the
// server then finds the conversation's end without a read of its own. Nil
// (left out) when nothing is held.
func (c *Client) lastSeq(peer string) *int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.convs[peer]
	if st == nil {
		return nil
	}
	seq := st.held
	for s := range st.early {
		seq = max(seq, s)
	}
	if seq <= 0 {
		return nil
	}
	return &seq
}

// currentLocked reports whether st still orders its conversation or room:
// a room's stream is dropped when it is left or its epoch changes.
func (c *Client) currentLocked(st *stream) bool {
	if st.room == "" {
		return true
	}
	rs := c.rooms[st.room]
	return rs != nil && rs.stream == st
}

// offerLocked takes message e of st: it is delivered if it is next, kept
// in early if a hole is before it, and dropped if it was accounted for. A
// pushed message at or below held that was never delivered (one pushed
// while the baseline was read) is delivered late rather than lost.
func (c *Client) offerLocked(st *stream, e entry) {
	s := e.m.Seq
	if s <= 0 { // a server without seq: order is the server's
		c.emitLocked(st, e)
		return
	}
	if !st.anchored {
		if !st.baselining {
			// Frames of a room this client did not join itself (another
			// of this user's connections did): start at the first one.
			st.anchored, st.held = true, s-1
		} else {
			st.early[s] = e
			return
		}
	}
	switch {
	case s <= st.held:
		if !e.catchUp {
			c.emitLocked(st, e)
		}
	case s == st.held+1:
		c.emitLocked(st, e)
		st.held, st.heldID = s, e.m.MessageID
		c.drainLocked(st)
	default:
		if old, ok := st.early[s]; !ok || e.own || (old.catchUp && !e.catchUp) {
			st.early[s] = e
		}
		c.armGraceLocked(st)
	}
}

// drainLocked delivers what early holds up to the next hole.
func (c *Client) drainLocked(st *stream) {
	for _, s := range slices.Sorted(maps.Keys(st.early)) {
		if s > st.held+1 {
			break
		}
		e := st.early[s]
		delete(st.early, s)
		if s == st.held+1 {
			c.emitLocked(st, e)
			st.held, st.heldID = s, e.m.MessageID
		} else if !e.catchUp {
			c.emitLocked(st, e)
		}
	}
	if len(st.early) == 0 {
		if st.grace != nil {
			st.grace.Stop()
			st.grace = nil
		}
		st.failures = 0
		return
	}
	c.armGraceLocked(st)
}

// anchorLocked sets a room's baseline and delivers what waited for it.
func (c *Client) anchorLocked(st *stream, seq int64, id string) {
	st.anchored, st.baselining = true, false
	st.held, st.heldID = seq, id
	c.drainLocked(st)
}

// armGraceLocked starts the wait after which a hole is fetched, unless one
// runs or the stream's order waits for its baseline. After failed
// repairs it waits longer, up to the reconnect backoff's maximum.
func (c *Client) armGraceLocked(st *stream) {
	if st.grace != nil || !st.anchored || c.state == stateStopped {
		return
	}
	d := c.o.gapGrace << min(st.failures, 16)
	if d > c.o.backoffMax || d <= 0 {
		d = max(c.o.backoffMax, c.o.gapGrace)
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		if st.grace == t {
			st.grace = nil
		}
		ctx := c.ctx
		c.mu.Unlock()
		if err := c.repair(ctx, st, 0); err != nil {
			c.log.Warn("minichat: fetching missed messages failed", "peer", st.peer, "room", st.room, "err", err)
		}
	})
	st.grace = t
}

// emitLocked shows one message: this client's own sends only count as
// delivered, and a message from someone ends their typing there.
func (c *Client) emitLocked(st *stream, e entry) {
	m := e.m
	switch {
	case e.own:
		c.seen.add(m.MessageID)
	case st.room != "":
		if !m.Deleted && c.seen.add(m.MessageID) {
			c.typingEndedLocked(m.UserID, m.Room)
			c.countCatchUpLocked(e.catchUp)
			c.events.push(GroupMessage{ChatMessage: m, CatchUp: e.catchUp})
		}
	default:
		if c.deliverPrivateLocked(m, e.catchUp) && !m.Deleted {
			c.typingEndedLocked(m.From, "")
			c.countCatchUpLocked(e.catchUp)
		}
	}
}

func (c *Client) countCatchUpLocked(catchUp bool) {
	if catchUp {
		c.caughtUp++
	}
}

// deliverPrivateLocked emits m unless it was delivered before; a history
// item of a message seen earlier and deleted since becomes MessageDeleted.
func (c *Client) deliverPrivateLocked(m protocol.ChatMessage, catchUp bool) bool {
	if m.Deleted {
		if c.seen.has(m.MessageID) && c.deleted.add(m.MessageID) {
			c.events.push(MessageDeleted{protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: m.MessageID, ChatWith: c.peerOf(m)}})
			return true
		}
		c.seen.add(m.MessageID)
		c.deleted.add(m.MessageID)
		return false
	}
	if !c.seen.add(m.MessageID) {
		return false
	}
	c.events.push(PrivateMessage{ChatMessage: m, CatchUp: catchUp})
	return true
}

// peerOf is the other party of a private message; c.mu is held.
func (c *Client) peerOf(m protocol.ChatMessage) string {
	if m.From == c.session.UserID {
		return m.To
	}
	return m.From
}

// repair fetches from history what st misses and delivers it in order:
// up to seq target, up to the newest message early holds (target 0), or
// up to the newest there is (toEnd).
func (c *Client) repair(ctx context.Context, st *stream, target int64) error {
	st.fetchMu.Lock()
	defer st.fetchMu.Unlock()
	c.mu.Lock()
	if !c.currentLocked(st) || !st.anchored {
		c.mu.Unlock()
		return nil
	}
	if target == 0 && len(st.early) > 0 {
		// The newest message held early came: the hole ends before it.
		target = slices.Max(slices.Collect(maps.Keys(st.early))) - 1
	}
	from, fromID := st.held, st.heldID
	c.mu.Unlock()
	if target != toEnd && target <= from {
		return nil // what the stream missed came meanwhile
	}

	msgs, err := c.fetchAfter(ctx, st, from, fromID, target)
	if st.peer != "" && c.ownUnseen(msgs) {
		// This user's messages in msgs that this client sent come back as
		// acks, not as messages: wait for the sends under way (which
		// include every one the fetch may have seen stored).
		c.settleSends(ctx, st.peer)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.currentLocked(st) {
		return nil
	}
	upTo := from
	for _, m := range msgs {
		c.offerLocked(st, entry{m: m, catchUp: true})
		upTo = max(upTo, m.Seq)
	}
	if err != nil {
		st.failures++
		c.armGraceLocked(st)
		return err
	}
	// History answered every seq up to upTo: a hole still below it is a
	// message the server does not have; waiting for it would stall the
	// stream for good.
	for st.held < upTo && len(st.early) > 0 {
		next := slices.Min(slices.Collect(maps.Keys(st.early)))
		c.log.Warn("minichat: history lacks messages; skipping them", "peer", st.peer, "room", st.room, "from", st.held+1, "to", next-1)
		st.held = next - 1
		c.drainLocked(st)
	}
	return nil
}

// ownUnseen reports whether msgs has a message of this user that was not
// delivered or acknowledged yet.
func (c *Client) ownUnseen(msgs []protocol.ChatMessage) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(msgs, func(m protocol.ChatMessage) bool {
		return m.From == c.session.UserID && !c.seen.has(m.MessageID)
	})
}

// settleSends waits, for at most the request timeout, until the private
// sends to peer under way are answered.
func (c *Client) settleSends(ctx context.Context, peer string) {
	c.mu.Lock()
	var sends []*request
	for _, r := range c.pending {
		if r.kind == kindSend && r.to == peer {
			sends = append(sends, r)
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.o.requestTimeout)
	defer cancel()
	for _, r := range sends {
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
	}
}

// fetchAfter returns, oldest first, the messages of st's history after
// seq from (whose message is fromID) up to seq target (or toEnd). With a
// cursor it pages forward asking for just the missing ones; without one
// (a conversation new since Dial, a room empty at its baseline), or when
// the server no longer has the cursor's message, it pages back from the
// newest.
func (c *Client) fetchAfter(ctx context.Context, st *stream, from int64, fromID string, target int64) ([]protocol.ChatMessage, error) {
	list := func(q HistoryQuery) (protocol.MessagePage, error) {
		if st.room != "" {
			return c.RoomHistory(ctx, st.room, q)
		}
		return c.History(ctx, st.peer, q)
	}
	limit := func(have int64) int {
		if target == toEnd {
			return pageSize
		}
		return int(min(max(target-have, 1), pageSize))
	}
	var out []protocol.ChatMessage
	if fromID != "" {
		q := HistoryQuery{After: fromID, Limit: limit(from)}
		for {
			page, err := list(q)
			var e *Error
			if errors.As(err, &e) && e.Code == protocol.CodeBadRequest && len(out) == 0 {
				break // the cursor's message is gone (room messages expire)
			}
			if err != nil {
				return sortBySeq(out), err
			}
			out = append(out, page.Messages...)
			newest := from
			for _, m := range out {
				newest = max(newest, m.Seq)
			}
			if page.Next == "" || (target != toEnd && newest >= target) {
				return sortBySeq(out), nil
			}
			q.After, q.Limit = page.Next, limit(newest)
		}
	}
	q := HistoryQuery{Limit: pageSize}
	for {
		page, err := list(q)
		if err != nil {
			return sortBySeq(out), err
		}
		for _, m := range page.Messages { // newest first
			if m.Seq <= from {
				return sortBySeq(out), nil
			}
			out = append(out, m)
		}
		if page.Next == "" {
			return sortBySeq(out), nil
		}
		q.Before = page.Next
	}
}

func sortBySeq(msgs []protocol.ChatMessage) []protocol.ChatMessage {
	slices.SortFunc(msgs, func(a, b protocol.ChatMessage) int { return cmp.Compare(a.Seq, b.Seq) })
	return msgs
}

// baseline records, before the first connection, the seq of every
// conversation's last message: only what follows is fetched when missed.
func (c *Client) baseline(ctx context.Context) error {
	convs, err := c.Conversations(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cv := range convs {
		if lm := cv.LastMessage; lm != nil {
			st := c.convLocked(cv.Peer.UserID)
			if lm.Seq > st.held {
				st.held, st.heldID = lm.Seq, lm.MessageID
			}
		}
	}
	return nil
}

// catchUp runs after every connection opens: it fetches the private
// messages stored while this client was not connected (the conversations
// whose last message has a seq past what the client holds), then, once
// each room is re-joined, the room's messages after the last one held,
// and ends with CaughtUp. lost is closed when the connection ends.
func (c *Client) catchUp(rejoins []*request, lost <-chan struct{}) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.mu.Lock()
	before := c.caughtUp
	c.mu.Unlock()

	var errs []error
	convs, err := c.Conversations(ctx)
	errs = append(errs, err)
	for _, cv := range convs {
		if lm := cv.LastMessage; lm != nil && lm.Seq > 0 {
			c.mu.Lock()
			st := c.convLocked(cv.Peer.UserID)
			c.mu.Unlock()
			errs = append(errs, c.repair(ctx, st, lm.Seq))
		}
	}
	for _, r := range rejoins {
		select {
		case <-r.done:
			errs = append(errs, c.afterJoin(ctx, r.room))
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
	}
	c.mu.Lock()
	n := c.caughtUp - before
	c.mu.Unlock()
	c.events.push(CaughtUp{Messages: n, Err: errors.Join(errs...)})
}
