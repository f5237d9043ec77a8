package client

import (
	"context"
	"maps"
	"slices"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// roomState is what the client holds for a room within one epoch: the
// version of the last update delivered, and the order of its messages.
type roomState struct {
	epoch      string
	version    int64
	hasVersion bool
	stream     *stream
}

// roomLocked returns the state of room for a frame of epoch. A frame of
// another epoch than the one held means the room was emptied and created
// again: what was held is dropped, and the application told.
func (c *Client) roomLocked(room, epoch string) *roomState {
	rs := c.rooms[room]
	if rs != nil && epoch != "" && rs.epoch != "" && rs.epoch != epoch {
		c.dropRoomLocked(room)
		c.events.push(RoomReset{Room: room, Epoch: epoch})
		rs = nil
	}
	if rs == nil {
		rs = &roomState{epoch: epoch, stream: newStream("", room, false)}
		c.rooms[room] = rs
	}
	if rs.epoch == "" {
		rs.epoch = epoch
	}
	return rs
}

// dropRoomLocked forgets what the client held for room.
func (c *Client) dropRoomLocked(room string) {
	if rs := c.rooms[room]; rs != nil && rs.stream.grace != nil {
		rs.stream.grace.Stop()
	}
	delete(c.rooms, room)
}

func (c *Client) roomUpdate(u protocol.Update) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.roomLocked(u.Room, u.Epoch)
	if rs.hasVersion && u.Version <= rs.version {
		return
	}
	rs.version, rs.hasVersion = u.Version, true
	u.ID = ""
	c.events.push(RoomUpdate{u})
}

func (c *Client) group(m protocol.ChatMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offerLocked(c.roomLocked(m.Room, m.Epoch).stream, entry{m: m})
}

// seatedLocked runs when a join or a re-join of room was answered with
// its seats: until the room's baseline is read, its messages wait.
func (c *Client) seatedLocked(room string) {
	if rs := c.rooms[room]; rs != nil && !rs.stream.anchored {
		rs.stream.baselining = true
	}
}

// afterJoin runs once this client holds a seat in room: it fetches the
// messages after the last one held, or, when it holds none for the room's
// epoch, reads the newest seq as the room's baseline (what was said
// before this client sat down is not missed; RoomHistory reads it).
func (c *Client) afterJoin(ctx context.Context, room string) error {
	c.mu.Lock()
	rs := c.rooms[room]
	_, joined := c.joined[room]
	anchored := rs != nil && rs.stream.anchored
	c.mu.Unlock()
	switch {
	case rs == nil || !joined:
		return nil
	case anchored:
		return c.repair(ctx, rs.stream, toEnd)
	}
	st := rs.stream
	page, err := c.RoomHistory(ctx, room, HistoryQuery{Limit: 1})
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.currentLocked(st) || st.anchored {
		return nil
	}
	switch {
	case err == nil && len(page.Messages) == 0:
		c.anchorLocked(st, 0, "")
	case err == nil && (page.Messages[0].Epoch == "" || page.Messages[0].Epoch == rs.epoch):
		c.anchorLocked(st, page.Messages[0].Seq, page.Messages[0].MessageID)
	default:
		// No baseline: order starts at the first message that waited, or
		// else at the first to come.
		st.baselining = false
		if len(st.early) > 0 {
			c.anchorLocked(st, slices.Min(slices.Collect(maps.Keys(st.early)))-1, "")
		}
	}
	return err
}
