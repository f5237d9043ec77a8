package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// getRoom reads a room; a room without a record is empty with Version 0.
func getRoom(tx *bolt.Tx, name string) (chat.Room, error) {
	r := chat.Room{Name: name}
	if _, err := get(tx.Bucket(bucketRooms), []byte(name), &r); err != nil {
		return chat.Room{}, err
	}
	r.Name = name
	return r, nil
}

// GetRoom returns a room; a room without members is empty with Version 0.
func (s *BoltStore) GetRoom(ctx context.Context, name string) (chat.Room, error) {
	var r chat.Room
	err := s.view(ctx, "get room", func(tx *bolt.Tx) error {
		var err error
		r, err = getRoom(tx, name)
		return err
	})
	return r, err
}

// JoinRoom seats st.UserID on the first free seat. bbolt runs one write
// transaction at a time, so the read and the write of the seats cannot
// interleave with another writer's.
func (s *BoltStore) JoinRoom(ctx context.Context, name string, st chat.Seat) (chat.Room, bool, error) {
	if st.UserID == "" {
		return chat.Room{}, false, fmt.Errorf("boltstore: join room: empty user id: %w", chat.ErrBadRequest)
	}
	var r chat.Room
	changed := false
	err := s.update(ctx, "join room", func(tx *bolt.Tx) error {
		var err error
		if r, err = getRoom(tx, name); err != nil {
			return err
		}
		if r.SeatOf(st.UserID) >= 0 {
			return nil
		}
		free := -1
		for i, seat := range r.Seats {
			if seat.UserID == "" {
				free = i
				break
			}
		}
		if free < 0 {
			return fmt.Errorf("room %s: %w", name, chat.ErrRoomFull)
		}
		r.Seats[free] = st
		r.Version++
		changed = true
		if err := tx.Bucket(bucketUserRooms).Put(key(st.UserID, name), nil); err != nil {
			return err
		}
		return put(tx.Bucket(bucketRooms), []byte(name), r)
	})
	if err != nil {
		return chat.Room{}, false, err
	}
	return r, changed, nil
}

// LeaveRoom frees userID's seat and bumps the version; the last member's
// leave deletes the room's record.
func (s *BoltStore) LeaveRoom(ctx context.Context, name, userID string) (chat.Room, bool, error) {
	var r chat.Room
	changed := false
	err := s.update(ctx, "leave room", func(tx *bolt.Tx) error {
		var err error
		if r, err = getRoom(tx, name); err != nil {
			return err
		}
		i := r.SeatOf(userID)
		if i < 0 {
			return nil
		}
		r.Seats[i] = chat.Seat{}
		r.Version++
		changed = true
		if err := tx.Bucket(bucketUserRooms).Delete(key(userID, name)); err != nil {
			return err
		}
		if r.Empty() {
			return tx.Bucket(bucketRooms).Delete([]byte(name))
		}
		return put(tx.Bucket(bucketRooms), []byte(name), r)
	})
	if err != nil {
		return chat.Room{}, false, err
	}
	return r, changed, nil
}

// RoomsOf returns the names of the rooms where userID holds a seat: a cursor
// range over the user->rooms index.
func (s *BoltStore) RoomsOf(ctx context.Context, userID string) ([]string, error) {
	var out []string
	err := s.view(ctx, "rooms of", func(tx *bolt.Tx) error {
		out = suffixes(tx.Bucket(bucketUserRooms), userID)
		return nil
	})
	return out, err
}
