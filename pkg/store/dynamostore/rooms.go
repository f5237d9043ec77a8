package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// GetRoom reads the room item; no item is an empty room at version 0.
func (s *DynamoStore) GetRoom(ctx context.Context, name string) (chat.Room, error) {
	r, err := s.readRoom(ctx, name)
	if err != nil {
		return chat.Room{}, fmt.Errorf("get room: %w", err)
	}
	return r, nil
}

func (s *DynamoStore) readRoom(ctx context.Context, name string) (chat.Room, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: roomKey(name)})
	if err != nil {
		return chat.Room{}, err
	}
	return decodeRoom(name, out.Item)
}

// roomNow is the room as the item seen says, when a failed write returned
// the item that beat it (saving a read per lost race), else as read now.
func (s *DynamoStore) roomNow(ctx context.Context, name string, seen map[string]types.AttributeValue) (chat.Room, error) {
	if len(seen) > 0 {
		return decodeRoom(name, seen)
	}
	return s.readRoom(ctx, name)
}

// JoinRoom reads the room, seats the user on the first free seat and
// writes the room back on the condition that its version did not change,
// with the membership item, in one transaction. A lost race tries again
// with the room the failed condition returned.
func (s *DynamoStore) JoinRoom(ctx context.Context, name string, seat chat.Seat) (chat.Room, bool, error) {
	var seen map[string]types.AttributeValue
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		r, err := s.roomNow(ctx, name, seen)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		if r.SeatOf(seat.UserID) >= 0 {
			return r, false, nil
		}
		free := firstFree(r)
		if free < 0 {
			return chat.Room{}, false, fmt.Errorf("join room %q: %w", name, chat.ErrRoomFull)
		}
		next := r
		next.Seats[free] = seat
		next.Version++
		ws, err := roomWrites(r, next)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		member, err := put(withKey(membershipKey(seat.UserID, name), map[string]types.AttributeValue{"room": strAV(name)}), nil)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		err = s.write(ctx, append(ws, member)...)
		seen, _ = failedAt(err, 0)
		if retryable(err) {
			continue
		}
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		return next, true, nil
	}
	return chat.Room{}, false, fmt.Errorf("join room %q: %w", name, errContention)
}

// LeaveRoom frees the user's seat like JoinRoom takes one; the last member
// leaving deletes the room item.
func (s *DynamoStore) LeaveRoom(ctx context.Context, name, userID string) (chat.Room, bool, error) {
	var seen map[string]types.AttributeValue
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Room{}, false, fmt.Errorf("leave room: %w", err)
		}
		r, err := s.roomNow(ctx, name, seen)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("leave room: %w", err)
		}
		seat := r.SeatOf(userID)
		if seat < 0 {
			return r, false, nil
		}
		next := r
		next.Seats[seat] = chat.Seat{}
		next.Version++
		ws, err := roomWrites(r, next)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("leave room: %w", err)
		}
		member, err := del(membershipKey(userID, name), nil)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("leave room: %w", err)
		}
		err = s.write(ctx, append(ws, member)...)
		seen, _ = failedAt(err, 0)
		if retryable(err) {
			continue
		}
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("leave room: %w", err)
		}
		return next, true, nil
	}
	return chat.Room{}, false, fmt.Errorf("leave room %q: %w", name, errContention)
}

func firstFree(r chat.Room) int {
	for i, s := range r.Seats {
		if s.UserID == "" {
			return i
		}
	}
	return -1
}

// roomWrites replace room r (as read) by next: a put, or a delete when next
// is empty, on the condition that the room is still at r's version.
func roomWrites(r, next chat.Room) ([]types.TransactWriteItem, error) {
	unchanged := expression.Name("version").Equal(expression.Value(r.Version))
	if r.Version == 0 {
		unchanged = notExists(attrPK)
	}
	if next.Empty() {
		w, err := del(roomKey(r.Name), &unchanged)
		return []types.TransactWriteItem{w}, err
	}
	item, err := roomItem(next)
	if err != nil {
		return nil, err
	}
	w, err := put(item, &unchanged)
	return []types.TransactWriteItem{w}, err
}

// RoomsOf queries the user's membership items.
func (s *DynamoStore) RoomsOf(ctx context.Context, userID string) ([]string, error) {
	var rooms []string
	err := s.queryAll(ctx, prefixUser+userID, prefixRoom, func(item map[string]types.AttributeValue) error {
		rooms = append(rooms, skOf(item)[len(prefixRoom):])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rooms of: %w", err)
	}
	return rooms, nil
}
