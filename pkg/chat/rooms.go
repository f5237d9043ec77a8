package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// JoinRoom seats the caller on the first free seat of req.Room. The joiner
// and everyone in the room get the new seats and a join notice; a full room
// answers `full`; a user already seated just gets the seats again.
func (s *Service) JoinRoom(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := ValidRoom(req.Room); err != nil {
		return nil, err
	}
	r, changed, err := s.store.JoinRoom(ctx, req.Room, Seat{UserID: id.UserID, Username: id.Username})
	if errors.Is(err, ErrRoomFull) {
		return []any{protocol.Full{Type: protocol.TypeFull, ID: req.ID, Room: req.Room}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("join room: %w", err)
	}
	update := RenderRoom(r, req.ID)
	if !changed {
		return []any{update}, nil
	}
	notice := protocol.Notice{
		Type: protocol.TypeNotice, Room: r.Name, Event: protocol.EventJoin,
		UserID: id.UserID, Username: id.Username, Text: id.Username + " entered the room",
	}
	update.ID = ""
	if err := s.send(ctx, r.Members(), call.ConnID, true, update, notice); err != nil {
		return nil, fmt.Errorf("join room: %w", err)
	}
	update.ID = req.ID
	return []any{update, notice}, nil
}

// LeaveRoom frees the caller's seat. Leaving a room where one holds no seat
// is acknowledged too: the result, not sitting there, is the same.
func (s *Service) LeaveRoom(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := ValidRoom(req.Room); err != nil {
		return nil, err
	}
	if _, err := s.leave(ctx, id, req.Room, call.ConnID, true); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

// leave frees id's seat in room and tells the remaining members and the
// leaver's other connections.
func (s *Service) leave(ctx context.Context, id Identity, room, exclude string, cleanup bool) (bool, error) {
	r, changed, err := s.store.LeaveRoom(ctx, room, id.UserID)
	if err != nil {
		return false, fmt.Errorf("leave room: %w", err)
	}
	if !changed {
		return false, nil
	}
	notice := protocol.Notice{
		Type: protocol.TypeNotice, Room: room, Event: protocol.EventLeave,
		UserID: id.UserID, Username: id.Username, Text: id.Username + " left the room",
	}
	users := append(r.Members(), id.UserID)
	if err := s.send(ctx, users, exclude, cleanup, RenderRoom(r, ""), notice); err != nil {
		return true, fmt.Errorf("leave room: %w", err)
	}
	return true, nil
}

// GroupMessage stores a room message and delivers it to every connection of
// everyone seated, the sender's included.
func (s *Service) GroupMessage(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := ValidRoom(req.Room); err != nil {
		return nil, err
	}
	if err := ValidText("msg", req.Msg); err != nil {
		return nil, err
	}
	if stored, resent, err := s.admit(ctx, id.UserID, req.ID); err != nil || resent {
		if err != nil {
			return nil, err
		}
		return []any{ack(req.ID, stored)}, nil
	}
	r, err := s.store.GetRoom(ctx, req.Room)
	if err != nil {
		return nil, fmt.Errorf("group message: %w", err)
	}
	if r.SeatOf(id.UserID) < 0 {
		return nil, refuse(ErrForbidden, "take a seat in the room first")
	}
	m := Message{
		MessageID: s.newID(), Kind: KindGroup, From: id.UserID, FromName: id.Username,
		Room: req.Room, Content: req.Msg, At: s.clock(),
	}
	stored, created, err := s.store.SaveMessage(ctx, m, idemKey(id.UserID, req.ID))
	if err != nil {
		return nil, fmt.Errorf("group message: %w", err)
	}
	if created {
		if err := s.send(ctx, r.Members(), "", true, RenderMessage(stored, "")); err != nil {
			return nil, fmt.Errorf("group message: %w", err)
		}
	}
	return []any{ack(req.ID, stored)}, nil
}

// RoomInfo returns a room's seats (GET /api/rooms/{room}).
func (s *Service) RoomInfo(ctx context.Context, _ Identity, room string) (protocol.RoomInfo, error) {
	if err := ValidRoom(room); err != nil {
		return protocol.RoomInfo{}, err
	}
	r, err := s.store.GetRoom(ctx, room)
	if err != nil {
		return protocol.RoomInfo{}, fmt.Errorf("room: %w", err)
	}
	u := RenderRoom(r, "")
	return protocol.RoomInfo{Room: u.Room, Version: u.Version, Seats: u.Seats}, nil
}
