package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// roomRec is a room as stored. Seats name their users; a seat's
// connections and avatar are read from its user, so they are never stale.
type roomRec struct {
	Epoch   string
	Version int64
	Seats   [chat.SeatCount]seatRec
}

type seatRec struct {
	UserID   string `json:",omitempty"`
	Username string `json:",omitempty"`
}

func getRoom(tx *bolt.Tx, name string) (roomRec, bool, error) {
	var r roomRec
	found, err := get(tx.Bucket(bucketRooms), []byte(name), &r)
	return r, found, err
}

// room turns a record into the domain's room, reading each seated user.
func (r roomRec) room(rd reader, name string, now time.Time) (chat.Room, error) {
	out := chat.Room{Name: name, Epoch: r.Epoch, Version: r.Version}
	last, err := rd.last(name + sep + r.Epoch)
	if err != nil {
		return chat.Room{}, err
	}
	if last != nil {
		m := *last
		out.Last = &m
	}
	for i, st := range r.Seats {
		if st.UserID == "" {
			continue
		}
		seat := chat.Seat{UserID: st.UserID, Username: st.Username}
		u, found, err := rd.user(st.UserID)
		if err != nil {
			return chat.Room{}, err
		}
		if found {
			seat.AvatarVersion, seat.Conns = u.AvatarVersion, u.live(now)
		}
		out.Seats[i] = seat
	}
	return out, nil
}

func readRoom(rd reader, name string, now time.Time) (chat.Room, error) {
	r, found, err := rd.room(name)
	if err != nil || !found {
		return chat.Room{Name: name}, err
	}
	return r.room(rd, name, now)
}

// GetRoom returns the room, or an empty one, from the cache.
func (s *BoltStore) GetRoom(ctx context.Context, name string) (chat.Room, error) {
	if err := ctx.Err(); err != nil {
		return chat.Room{}, fmt.Errorf("boltstore: get room: %w", err)
	}
	r, err := readRoom(hotReader{s}, name, s.now())
	if err != nil {
		return chat.Room{}, fmt.Errorf("boltstore: get room: %w", err)
	}
	return r, nil
}

func newEpoch() string { return uuid.Must(uuid.NewV7()).String() }

// JoinRoom seats the user on the first free seat.
func (s *BoltStore) JoinRoom(ctx context.Context, name string, id chat.Identity) (chat.Room, bool, error) {
	var (
		out           chat.Room
		changed, full bool
	)
	now := s.now()
	err := s.update(ctx, "join room", func(tx *bolt.Tx) error {
		changed, full = false, false
		r, found, err := getRoom(tx, name)
		if err != nil {
			return err
		}
		if !found {
			r = roomRec{Epoch: newEpoch()}
		}
		free := -1
		for i, st := range r.Seats {
			if st.UserID == id.UserID {
				out, err = r.room(txReader{tx}, name, now)
				return err
			}
			if st.UserID == "" && free < 0 {
				free = i
			}
		}
		if free < 0 {
			full = true
			out, err = r.room(txReader{tx}, name, now)
			return err
		}
		r.Seats[free] = seatRec{UserID: id.UserID, Username: id.Username}
		r.Version++
		if err := putHot(tx, hotRooms, bucketRooms, name, r); err != nil {
			return err
		}
		if u, ok, err := getUser(tx, id.UserID); err != nil {
			return err
		} else if ok && !slices.Contains(u.Rooms, name) {
			u.Rooms = append(u.Rooms, name)
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		changed = true
		out, err = r.room(txReader{tx}, name, now)
		return err
	})
	switch {
	case err != nil:
		return chat.Room{}, false, err
	case full:
		return out, false, fmt.Errorf("boltstore: join room %q: %w", name, chat.ErrRoomFull)
	}
	return out, changed, nil
}

// LeaveRoom frees the user's seat; the last member leaving deletes the
// room's record, so the next join starts a new epoch.
func (s *BoltStore) LeaveRoom(ctx context.Context, name, userID string) (chat.Room, chat.Seat, bool, error) {
	var l leaving
	err := s.update(ctx, "leave room", func(tx *bolt.Tx) error {
		var err error
		l, err = leaveTx(tx, name, userID, s.now())
		return err
	})
	if err != nil {
		return chat.Room{}, chat.Seat{}, false, err
	}
	return l.Room, l.Freed, l.changed, nil
}

type leaving struct {
	chat.Left
	changed bool
}

// leaveTx frees userID's seat in room within tx, deleting the room's
// record when it empties, and drops the room from the user's.
func leaveTx(tx *bolt.Tx, name, userID string, now time.Time) (leaving, error) {
	var l leaving
	r, found, err := getRoom(tx, name)
	if err != nil {
		return l, err
	}
	if u, ok, err := getUser(tx, userID); err != nil {
		return l, err
	} else if ok && slices.Contains(u.Rooms, name) {
		u.Rooms = slices.DeleteFunc(u.Rooms, func(s string) bool { return s == name })
		if err := putUser(tx, u); err != nil {
			return l, err
		}
	}
	if !found {
		l.Room = chat.Room{Name: name}
		return l, nil
	}
	before, err := r.room(txReader{tx}, name, now)
	if err != nil {
		return l, err
	}
	i := before.SeatOf(userID)
	if i < 0 {
		l.Room = before
		return l, nil
	}
	l.Freed, l.changed = before.Seats[i], true
	r.Seats[i] = seatRec{}
	r.Version++
	empty := true
	for _, st := range r.Seats {
		empty = empty && st.UserID == ""
	}
	if empty {
		l.Room = chat.Room{Name: name, Epoch: r.Epoch, Version: r.Version}
		return l, deleteHot(tx, hotRooms, bucketRooms, name)
	}
	if err := putHot(tx, hotRooms, bucketRooms, name, r); err != nil {
		return l, err
	}
	l.Room, err = r.room(txReader{tx}, name, now)
	return l, err
}

// SaveGroup stores a room message as the next of the epoch r was read in.
func (s *BoltStore) SaveGroup(ctx context.Context, r chat.Room, m chat.Message, admit func(context.Context) error) (chat.Message, bool, error) {
	if r.Epoch == "" {
		return chat.Message{}, false, errStaleRoom
	}
	prefix := m.Room + sep + r.Epoch
	return s.save(ctx, m, admit, func(tx *bolt.Tx, m *chat.Message) (string, error) {
		m.Seq, m.Epoch = lastSeq(tx.Bucket(bucketRoomMessages), prefix)+1, r.Epoch
		return prefix, nil
	})
}

// lastMessage returns the encoded last message of prefix (a room and its
// epoch) in the room messages, nil for none.
func lastMessage(tx *bolt.Tx, prefix string) []byte {
	b := tx.Bucket(bucketRoomMessages)
	seq := lastSeq(b, prefix)
	if seq == 0 {
		return nil
	}
	return b.Get(seqKey(prefix, seq))
}

// lastSeq is the seq of the last message under prefix, 0 for none.
func lastSeq(b *bolt.Bucket, prefix string) int64 {
	c := b.Cursor()
	k, _ := c.Seek(seqKey(prefix, 1<<62))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	p := key(prefix, "")
	if k == nil || len(k) != len(p)+8 || !bytes.HasPrefix(k, p) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k[len(p):]))
}

// RoomMessages returns a page of the room's messages of epoch.
func (s *BoltStore) RoomMessages(ctx context.Context, room, epoch string, p chat.Page) ([]chat.Message, error) {
	return s.list(ctx, bucketRoomMessages, room+sep+epoch, p)
}
