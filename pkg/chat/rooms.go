package chat

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// JoinResult is what a joiner learns: the room, and whether they took a
// seat now (Joined), already held one, or found it full.
type JoinResult struct {
	Room   Room
	Joined bool
	Full   bool
	// Notice is the join notice everyone in the room was sent, when Joined.
	Notice NoticeEvent
}

// JoinRoom seats the caller on the first free seat of room. The joiner's
// other connections and everyone in the room get the new seats and a join
// notice; a user already seated just gets the seats again. Before anyone
// is told the room is full, seats whose holder has no live connection
// left (a $disconnect that never came) are freed.
func (s *Service) JoinRoom(ctx context.Context, call Call, room string) (JoinResult, error) {
	if err := ValidRoom(room); err != nil {
		return JoinResult{}, err
	}
	id, err := s.identify(ctx, call)
	if err != nil {
		return JoinResult{}, err
	}
	r, changed, err := s.store.JoinRoom(ctx, room, id)
	if errors.Is(err, ErrRoomFull) && s.freeGhostSeats(ctx, room) {
		r, changed, err = s.store.JoinRoom(ctx, room, id)
	}
	if errors.Is(err, ErrRoomFull) {
		s.metrics.Count(ctx, MetricSeatsFull, 1, Label{})
		return JoinResult{Room: Room{Name: room, Epoch: r.Epoch}, Full: true}, nil
	}
	if err != nil {
		return JoinResult{}, fmt.Errorf("join room: %w", err)
	}
	if !changed {
		return JoinResult{Room: r}, nil
	}
	notice := NoticeEvent{Room: r.Name, Epoch: r.Epoch, Kind: NoticeJoin, User: id}
	s.deliver(ctx, r.Targets(), call.ConnID, true, RoomEvent{Room: r}, notice)
	return JoinResult{Room: r, Joined: true, Notice: notice}, nil
}

// freeGhostSeats frees the seats of a full room whose holders have no live
// connection: every connection on the seat expired or answers that it is
// gone. It reports whether it freed any.
func (s *Service) freeGhostSeats(ctx context.Context, room string) bool {
	r, err := s.store.GetRoom(ctx, room)
	if err != nil {
		s.log.WarnContext(ctx, "look for ghost seats", "err", err)
		return false
	}
	now := s.now()
	type ghost struct {
		user  Identity
		conns []string
	}
	var (
		mu     sync.Mutex
		ghosts []ghost
		wg     sync.WaitGroup
	)
	for _, seat := range r.Seats {
		if seat.UserID == "" {
			continue
		}
		wg.Go(func() {
			var dead []string
			for _, c := range seat.Conns {
				if c.ExpiresAt.IsZero() || c.ExpiresAt.After(now) {
					alive, err := s.push.Alive(ctx, c.ConnID)
					if err != nil || alive {
						// Unsure or alive: the seat stays taken.
						return
					}
				}
				dead = append(dead, c.ConnID)
			}
			mu.Lock()
			ghosts = append(ghosts, ghost{Identity{UserID: seat.UserID, Username: seat.Username}, dead})
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, g := range ghosts {
		s.log.InfoContext(ctx, "freeing the seats of a user with no live connection", "user", g.user.UserID, "room", room)
		last, left, err := s.store.Forget(ctx, g.user.UserID, g.conns)
		if err != nil {
			s.log.WarnContext(ctx, "forget dead connections", "err", err)
			continue
		}
		if last {
			s.wentOffline(ctx, g.user, left, "", true)
		}
		// Else a connection of theirs opened after the room was read: not a
		// ghost after all.
	}
	return len(ghosts) > 0
}

// LeaveRoom frees the caller's seat. Leaving a room where one holds no seat
// succeeds too: the result, not sitting there, is the same.
func (s *Service) LeaveRoom(ctx context.Context, call Call, room string) error {
	if err := ValidRoom(room); err != nil {
		return err
	}
	id, err := s.identify(ctx, call)
	if err != nil {
		return err
	}
	_, err = s.leave(ctx, id, room, call.ConnID, true)
	return err
}

// leave frees id's seat in room and tells the remaining members and the
// leaver's other connections.
func (s *Service) leave(ctx context.Context, id Identity, room, exclude string, cleanup bool) (bool, error) {
	r, freed, changed, err := s.store.LeaveRoom(ctx, room, id.UserID)
	if err != nil {
		return false, fmt.Errorf("leave room: %w", err)
	}
	if !changed {
		return false, nil
	}
	s.announceLeave(ctx, id, Left{Room: r, Freed: freed}, exclude, cleanup)
	return true, nil
}

// announceLeave tells the remaining members of a room, and the leaver's
// other connections, that the leaver's seat is free.
func (s *Service) announceLeave(ctx context.Context, id Identity, l Left, exclude string, cleanup bool) {
	notice := NoticeEvent{Room: l.Room.Name, Epoch: l.Room.Epoch, Kind: NoticeLeave, User: id}
	targets := append(l.Room.Targets(), l.Freed.Conns...)
	s.deliver(ctx, targets, exclude, cleanup, RoomEvent{Room: l.Room}, notice)
}

// GroupSend is a room message to send.
type GroupSend struct {
	Room, Msg, ClientID string
}

// SendGroup stores a room message and delivers it to every connection of
// everyone seated, the sender's included.
func (s *Service) SendGroup(ctx context.Context, call Call, in GroupSend, acked Acked) (Message, error) {
	if err := ValidRoom(in.Room); err != nil {
		return Message{}, err
	}
	if err := ValidText("msg", in.Msg); err != nil {
		return Message{}, err
	}
	if err := ValidClientID(in.ClientID); err != nil {
		return Message{}, err
	}
	r, id, err := s.seated(ctx, call, in.Room)
	if err != nil {
		return Message{}, err
	}
	m := Message{Kind: KindGroup, From: id.UserID, FromName: id.Username, Room: in.Room, Content: in.Msg, At: s.clock(), ClientID: in.ClientID}
	stored, created, err := s.store.SaveGroup(ctx, r, m, s.admitSend(id.UserID))
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) || errors.Is(err, ErrBadRequest) {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("group message: %w", err)
	}
	if acked != nil {
		acked(receipt(stored))
	}
	if created {
		s.metrics.Count(ctx, MetricMessagesStored, 1, Label{Name: "Kind", Value: "group"})
		s.deliver(ctx, r.Targets(), "", true, MessageEvent{MessageView{Message: stored}})
	}
	return stored, nil
}

// seated returns the room and who the caller is, refusing a caller who
// holds no seat there. A caller whose connection is on a seat needs no
// lookup of its own.
func (s *Service) seated(ctx context.Context, call Call, room string) (Room, Identity, error) {
	r, err := s.store.GetRoom(ctx, room)
	if err != nil {
		return Room{}, Identity{}, fmt.Errorf("room: %w", err)
	}
	if i := r.SeatOfConn(call.ConnID); i >= 0 && call.Identity == nil {
		return r, Identity{UserID: r.Seats[i].UserID, Username: r.Seats[i].Username}, nil
	}
	id, err := s.identify(ctx, call)
	if err != nil {
		return Room{}, Identity{}, err
	}
	if r.SeatOf(id.UserID) < 0 {
		return Room{}, Identity{}, refuse(ErrForbidden, "take a seat in the room first")
	}
	return r, id, nil
}

// RoomInfo returns a room's seats (GET /api/rooms/{room}).
func (s *Service) RoomInfo(ctx context.Context, _ Identity, room string) (Room, error) {
	if err := ValidRoom(room); err != nil {
		return Room{}, err
	}
	r, err := s.store.GetRoom(ctx, room)
	if err != nil {
		return Room{}, fmt.Errorf("room: %w", err)
	}
	r.Name = room
	return r, nil
}

// RoomHistory returns one page of the room's messages of its current
// epoch, newest first. Only a user seated there may read it.
func (s *Service) RoomHistory(ctx context.Context, id Identity, room string, p Page) (HistoryPage, error) {
	if err := ValidRoom(room); err != nil {
		return HistoryPage{}, err
	}
	p, err := validPage(p)
	if err != nil {
		return HistoryPage{}, err
	}
	r, err := s.store.GetRoom(ctx, room)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("room history: %w", err)
	}
	if r.SeatOf(id.UserID) < 0 {
		return HistoryPage{}, refuse(ErrForbidden, "take a seat in the room to read its history")
	}
	return s.page(ctx, p, func(p Page) ([]Message, error) { return s.store.RoomMessages(ctx, room, r.Epoch, p) })
}

// TypingInput is a typing indicator: to a user (To) or in a room.
type TypingInput struct {
	To, Room, State string
}

// Typing relays a typing indicator to the peer's connections, or to
// everyone seated in the room but the sender. It needs what a send needs
// (a seat, an existing peer) but stores nothing and does not count as a
// send; relayed is false when the typing limit dropped it, which the
// protocol answers with silence.
func (s *Service) Typing(ctx context.Context, call Call, in TypingInput) (relayed bool, err error) {
	if in.State != TypingStart && in.State != TypingStop {
		return false, badInput("state", `"start" or "stop"`)
	}
	if (in.To == "") == (in.Room == "") {
		return false, badInput("to", "name either to or room")
	}
	var (
		id      Identity
		targets []Target
		ev      TypingEvent
	)
	if in.To != "" {
		pc, err := s.privateContext(ctx, call.Sender(), in.To, -1)
		if err != nil {
			return false, err
		}
		id, targets = pc.sender.Identity(), pc.peer.Conns
		ev = TypingEvent{From: id, To: in.To, State: in.State}
	} else {
		if err := ValidRoom(in.Room); err != nil {
			return false, err
		}
		r, who, err := s.seated(ctx, call, in.Room)
		if err != nil {
			return false, err
		}
		id = who
		for _, seat := range r.Seats {
			if seat.UserID != "" && seat.UserID != id.UserID {
				targets = append(targets, seat.Conns...)
			}
		}
		ev = TypingEvent{From: id, Room: in.Room, Epoch: r.Epoch, State: in.State}
	}
	ok, _, err := s.limiter.Allow(ctx, "typing#"+id.UserID, s.limits.TypingRate, s.limits.TypingBurst, s.now())
	if err != nil {
		return false, fmt.Errorf("typing limit: %w", err)
	}
	if !ok {
		return false, nil
	}
	s.deliver(ctx, targets, call.ConnID, true, ev)
	return true, nil
}
