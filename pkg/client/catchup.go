package client

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// catchUpPage is the page size of catch-up, the most the server allows.
const catchUpPage = 100

// catchUp fetches the private messages missed since from and delivers them,
// with the live ones held meanwhile, oldest first. lost is closed when
// connection gen ends.
func (c *Client) catchUp(gen uint64, from time.Time, lost <-chan struct{}) {
	c.catchMu.Lock()
	defer c.catchMu.Unlock()
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()

	msgs, err := c.fetchMissed(ctx, cursorAt(from.Add(-c.o.catchUpWindow)))
	if err != nil {
		c.log.Warn("minichat: catch-up failed; it is tried again after the next reconnect", "err", err)
	}
	// This user's own messages in msgs that this client sent come back as
	// acks, not as messages: wait for the sends under way (which include
	// every one the fetch may have seen stored) to be answered first.
	c.mu.Lock()
	var sends []*request
	for _, r := range c.pending {
		if r.kind == kindSend {
			sends = append(sends, r)
		}
	}
	c.mu.Unlock()
	settle, stopSettle := context.WithTimeout(ctx, c.o.requestTimeout)
	for _, r := range sends {
		select {
		case <-r.done:
		case <-settle.Done():
		}
	}
	stopSettle()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen && c.holding {
		// A newer connection is holding its live messages for its own
		// catch-up, which delivers these with them.
		c.held = append(c.held, msgs...)
		return
	}
	type item struct {
		m       protocol.ChatMessage
		catchUp bool
	}
	items := make([]item, 0, len(msgs)+len(c.held))
	for _, m := range msgs {
		items = append(items, item{m, true})
	}
	for _, m := range c.held {
		items = append(items, item{m, false})
	}
	c.held, c.holding = nil, false
	slices.SortStableFunc(items, func(a, b item) int { return strings.Compare(a.m.MessageID, b.m.MessageID) })
	n := 0
	for _, it := range items {
		if c.deliverPrivateLocked(it.m, it.catchUp) && it.catchUp && !it.m.Deleted {
			n++
		}
	}
	if err == nil && c.gen == gen && c.conn != nil {
		c.catchFrom = time.Time{}
	}
	c.events.push(CaughtUp{Messages: n, Err: err})
}

// fetchMissed returns the private messages with ids after cursor, of every
// conversation whose last message is after it. History is walked from the
// newest message back, because the server takes only its own message ids
// as cursors.
func (c *Client) fetchMissed(ctx context.Context, cursor string) ([]protocol.ChatMessage, error) {
	convs, err := c.Conversations(ctx)
	if err != nil {
		return nil, err
	}
	var msgs []protocol.ChatMessage
	for _, cv := range convs {
		if cv.LastMessage == nil || cv.LastMessage.MessageID <= cursor {
			continue
		}
		before := ""
		for {
			page, err := c.History(ctx, cv.Peer.UserID, HistoryQuery{Before: before, Limit: catchUpPage})
			if err != nil {
				return msgs, err
			}
			older := false
			for _, m := range page.Messages {
				if m.MessageID <= cursor {
					older = true
					break
				}
				msgs = append(msgs, m)
			}
			if older || page.Next == "" || page.Next == before {
				break
			}
			before = page.Next
		}
	}
	return msgs, nil
}

// cursorAt is a history cursor at time t: the smallest UUIDv7 of t's
// millisecond. The server's message ids are UUIDv7, whose text sorts by
// creation time, and a cursor is a position, not a lookup.
func cursorAt(t time.Time) string {
	var u uuid.UUID
	ms := uint64(max(t.UnixMilli(), 0))
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 // version 7
	u[8] = 0x80 // RFC 4122 variant
	return u.String()
}
