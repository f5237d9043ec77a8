package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
)

// GetRoom reads the room's record and its latest message with one Query
// from the end of the room's partition: the record's sort key sorts after
// every message's.
func (s *DynamoStore) GetRoom(ctx context.Context, name string) (chat.Room, error) {
	r, _, err := s.readRoom(ctx, name)
	if err != nil {
		return chat.Room{}, fmt.Errorf("get room: %w", err)
	}
	return r, nil
}

// readRoom returns the room and its record as stored (nil for none).
func (s *DynamoStore) readRoom(ctx context.Context, name string) (chat.Room, map[string]types.AttributeValue, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(prefixRoom + name))
	in, err := keyQuery("room", kc, false, 2)
	if err != nil {
		return chat.Room{}, nil, err
	}
	out, err := s.query(ctx, in)
	if err != nil {
		return chat.Room{}, nil, err
	}
	if len(out.Items) == 0 || skOf(out.Items[0]) != skMeta {
		return chat.Room{Name: name}, nil, nil
	}
	a, err := decodeRoomAttrs(out.Items[0])
	if err != nil {
		return chat.Room{}, nil, err
	}
	r := a.room(s.now())
	if len(out.Items) > 1 {
		m, err := decodeMessageAttrs(out.Items[1])
		if err != nil {
			return chat.Room{}, nil, err
		}
		if m.Epoch == r.Epoch {
			last, err := m.message()
			if err != nil {
				return chat.Room{}, nil, err
			}
			r.Last = &last
		}
	}
	return r, out.Items[0], nil
}

// JoinRoom reads the joiner's profile and the room's record together,
// seats the joiner on the first free seat with one conditional write of
// the record (the version it was read at must still hold, so exactly
// eight joiners win under any concurrency), and notes the seat on the
// profile. A lost race tries again with the record that won.
func (s *DynamoStore) JoinRoom(ctx context.Context, name string, id chat.Identity) (chat.Room, bool, error) {
	var (
		profile profileAttrs
		meta    map[string]types.AttributeValue
	)
	err := s.batchGet(ctx, []map[string]types.AttributeValue{profileKey(id.UserID), roomKey(name)}, func(item map[string]types.AttributeValue) error {
		if skOf(item) == skMeta {
			meta = item
			return nil
		}
		var err error
		profile, err = decodeProfile(item)
		return err
	})
	if err != nil {
		return chat.Room{}, false, fmt.Errorf("join room: %w", err)
	}
	now := s.now()
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		a := roomAttrs{Room: name, Seats: make([]*seatAttrs, chat.SeatCount)}
		if len(meta) > 0 {
			if a, err = decodeRoomAttrs(meta); err != nil {
				return chat.Room{}, false, fmt.Errorf("join room: %w", err)
			}
		}
		free, again := -1, false
		for i, st := range a.Seats {
			if st != nil && st.UserID == id.UserID {
				if seat, ok := profile.Rooms[name]; ok && seat == i {
					return a.room(now), false, nil
				}
				// Seated, but the profile does not say so: a leave (a
				// $disconnect's) cleared the profile and has yet to free
				// the seat. Taking it again (newer cv) keeps that leave
				// from freeing it.
				free, again = i, true
				break
			}
			if st == nil && free < 0 {
				free = i
			}
		}
		if free < 0 {
			return a.room(now), false, fmt.Errorf("join room %q: %w", name, chat.ErrRoomFull)
		}
		unchanged := expression.Name("version").Equal(expression.Value(a.Version))
		if len(meta) == 0 {
			unchanged = notExists(attrPK)
			a.Epoch = uuid.Must(uuid.NewV7()).String()
		}
		next := a
		next.Seats = append([]*seatAttrs(nil), a.Seats...)
		next.Seats[free] = &seatAttrs{UserID: id.UserID, Username: id.Username, AvatarVersion: profile.AvatarVersion, Conns: profile.Conns, CV: profile.CV}
		if next.Seats[free].Conns == nil {
			next.Seats[free].Conns = map[string]int64{}
		}
		next.Version++
		item, err := roomItem(next)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		w, err := put(item, &unchanged)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		err = s.write(ctx, w)
		if seen, lost := failedAt(err, 0); lost {
			meta = seen
			if len(meta) == 0 {
				if _, meta, err = s.readRoom(ctx, name); err != nil {
					return chat.Room{}, false, fmt.Errorf("join room: %w", err)
				}
			}
			continue
		}
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: %w", err)
		}
		_, err = s.updateProfile(ctx, id.UserID,
			expression.Set(expression.Name("rooms."+name), expression.Value(free)), cond(exists(attrPK)), types.ReturnValueNone)
		if err != nil {
			return chat.Room{}, false, fmt.Errorf("join room: note the seat: %w", err)
		}
		return next.room(now), !again, nil
	}
	return chat.Room{}, false, fmt.Errorf("join room %q: %w", name, errContention)
}

// LeaveRoom takes the room off the user's profile (which says which seat
// they hold) and frees that seat.
func (s *DynamoStore) LeaveRoom(ctx context.Context, name, userID string) (chat.Room, chat.Seat, bool, error) {
	p, err := s.updateProfile(ctx, userID, expression.Remove(expression.Name("rooms."+name)), cond(exists(attrPK)), types.ReturnValueAllOld)
	if _, none := failedAt(err, 0); none {
		p = profileAttrs{}
	} else if err != nil {
		return chat.Room{}, chat.Seat{}, false, fmt.Errorf("leave room: %w", err)
	}
	seat, ok := p.Rooms[name]
	if !ok {
		seat = -1
	}
	l, changed, err := s.unseat(ctx, name, seat, userID, 0)
	if err != nil {
		return chat.Room{}, chat.Seat{}, false, fmt.Errorf("leave room: %w", err)
	}
	return l.Room, l.Freed, changed, nil
}

// unseat frees userID's seat in room: first as one conditional update of
// seat (where the profile says they sit), returning the record as it was;
// if that seat holds someone else (or seat is -1), by reading the record
// and writing it back at its version. A record left empty is deleted, so
// the room's next join starts a new epoch. before, when not 0, is one past
// the cv of the profile update that cleared the user's rooms: a seat
// taken at before or later (by a connection that came since, whose
// $connect moved cv on) stays.
func (s *DynamoStore) unseat(ctx context.Context, room string, seat int, userID string, before int64) (chat.Left, bool, error) {
	if seat >= 0 {
		path := "seats[" + strconv.Itoa(seat) + "]"
		theirs := expression.Name(path + ".userId").Equal(expression.Value(userID))
		if before != 0 {
			theirs = theirs.And(expression.Or(expression.AttributeNotExists(expression.Name(path+".cv")), expression.Name(path+".cv").LessThan(expression.Value(before))))
		}
		e, err := built("unseat", expression.NewBuilder().
			WithUpdate(expression.Set(expression.Name(path), expression.Value(nil)).Add(expression.Name("version"), expression.Value(1))).
			WithCondition(theirs))
		if err != nil {
			return chat.Left{}, false, err
		}
		out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
			Key: roomKey(room), UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
			ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: types.ReturnValueAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			a, err := decodeRoomAttrs(out.Attributes)
			if err != nil {
				return chat.Left{}, false, err
			}
			return s.vacated(ctx, a, seat)
		case !errors.As(err, &ccf):
			return chat.Left{}, false, err
		}
	}
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Left{}, false, err
		}
		r, item, err := s.readRoom(ctx, room)
		if err != nil {
			return chat.Left{}, false, err
		}
		i := r.SeatOf(userID)
		if item == nil || i < 0 {
			return chat.Left{Room: r}, false, nil
		}
		a, err := decodeRoomAttrs(item)
		if err != nil {
			return chat.Left{}, false, err
		}
		if before != 0 && a.Seats[i].CV >= before {
			return chat.Left{Room: r}, false, nil // taken again since
		}
		path := "seats[" + strconv.Itoa(i) + "]"
		w, err := update(roomKey(room),
			expression.Set(expression.Name(path), expression.Value(nil)).Add(expression.Name("version"), expression.Value(1)),
			cond(expression.Name("version").Equal(expression.Value(a.Version))))
		if err != nil {
			return chat.Left{}, false, err
		}
		err = s.write(ctx, w)
		if retryable(err) {
			continue
		}
		if err != nil {
			return chat.Left{}, false, err
		}
		return s.vacated(ctx, a, i)
	}
	return chat.Left{}, false, errContention
}

// vacated is what leaving seat of a (the record before) leaves: the freed
// seat and the room after, whose record is deleted if it is now empty.
func (s *DynamoStore) vacated(ctx context.Context, a roomAttrs, seat int) (chat.Left, bool, error) {
	before := a.room(s.now())
	freed := before.Seats[seat]
	a.Seats[seat] = nil
	a.Version++
	after := a.room(s.now())
	if after.Empty() {
		w, err := del(roomKey(a.Room), cond(expression.Name("version").Equal(expression.Value(a.Version))))
		if err != nil {
			return chat.Left{}, false, err
		}
		// A joiner who came in between keeps the room: the delete's
		// condition fails and nothing more is needed.
		if err := s.write(ctx, w); err != nil {
			if _, joined := failedAt(err, 0); !joined {
				return chat.Left{}, false, err
			}
		}
	}
	return chat.Left{Room: after, Freed: freed}, true, nil
}

// SaveGroup stores a room message as the next of the room's epoch: a
// conditional put on the seq after the one GetRoom read is the seq's claim.
func (s *DynamoStore) SaveGroup(ctx context.Context, r chat.Room, m chat.Message, admit func(context.Context) error) (chat.Message, bool, error) {
	if r.Epoch == "" {
		return chat.Message{}, false, &chat.Refusal{Kind: chat.ErrForbidden, Reason: "take a seat in the room first"}
	}
	m.Epoch = r.Epoch
	sc := scope{pk: prefixRoom + m.Room, epoch: r.Epoch, hash: m.Room + "#" + r.Epoch, ttl: epochCeil(m.At.Add(s.groupTTL))}
	var prev *messageAttrs
	if r.Last != nil {
		a := toMessageAttrs(*r.Last)
		prev = &a
	}
	return s.save(ctx, sc, m, admit, prev)
}

// RoomMessages returns a page of the room's messages of epoch.
func (s *DynamoStore) RoomMessages(ctx context.Context, room, epoch string, p chat.Page) ([]chat.Message, error) {
	return s.list(ctx, scope{pk: prefixRoom + room, epoch: epoch, hash: room + "#" + epoch}, p)
}
