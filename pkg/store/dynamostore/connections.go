package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Connect writes the connection; one that speaks for a user joins the
// user's profile first (one UpdateItem that also says whether it is their
// only one), and the user's other connections and seats learn of it.
func (s *DynamoStore) Connect(ctx context.Context, c chat.Connection) (bool, error) {
	if !c.Authenticated() {
		item, err := connItem(c)
		if err != nil {
			return false, fmt.Errorf("connect: %w", err)
		}
		if _, err := s.putItem(ctx, &dynamodb.PutItemInput{Item: item}); err != nil {
			return false, fmt.Errorf("connect: %w", err)
		}
		return false, nil
	}
	first, err := s.join(ctx, c, true)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	return first, nil
}

// join adds c to its user's profile and refreshes the copies of the user's
// connections: on c's own item (written whole when write is set), on the
// user's other connections, and on the user's seats.
func (s *DynamoStore) join(ctx context.Context, c chat.Connection, write bool) (bool, error) {
	now := s.now()
	name := "conns." + c.ConnID
	upd := expression.Set(expression.Name(name), expression.Value(c.ExpiresAt.UnixMilli())).
		Set(expression.Name("lastSeen"), expression.Value(c.ConnectedAt.UnixMilli())).
		Add(expression.Name("cv"), expression.Value(1))
	p, cv, err := s.updateProfileCV(ctx, c.UserID, upd, cond(exists(attrPK)), types.ReturnValueAllNew)
	if _, none := failedAt(err, 0); none {
		return false, fmt.Errorf("user %q: %w", c.UserID, chat.ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	sibs := liveConns(c.UserID, p.Conns, now)
	first := len(sibs) == 1 && sibs[0].ConnID == c.ConnID
	var jobs []func() error
	if write {
		jobs = append(jobs, func() error { return s.putConn(ctx, c, sibs, cv) })
	}
	jobs = append(jobs, s.refreshSiblings(ctx, sibs, cv, !write, c.ConnID)...)
	for room, seat := range p.Rooms {
		jobs = append(jobs, func() error { return s.seatConn(ctx, room, seat, c.UserID, c.ConnID, c.ExpiresAt.UnixMilli()) })
	}
	if err := parallel(jobs...); err != nil {
		return false, err
	}
	if expired := expiredConns(p.Conns, now); len(expired) > 0 {
		s.pruneConns(ctx, c.UserID, expired)
	}
	return first, nil
}

func targetsMap(ts []chat.Target) map[string]int64 {
	m := make(map[string]int64, len(ts))
	for _, t := range ts {
		m[t.ConnID] = t.ExpiresAt.UnixMilli()
	}
	return m
}

func expiredConns(conns map[string]int64, now time.Time) []string {
	var out []string
	for id, exp := range conns {
		if !time.UnixMilli(exp).After(now) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// pruneConns removes expired connections from a profile: ones whose
// $disconnect never came. It is housekeeping; a failure is only logged by
// the next caller that finds them again.
func (s *DynamoStore) pruneConns(ctx context.Context, userID string, ids []string) {
	upd := expression.Remove(expression.Name("conns." + ids[0]))
	for _, id := range ids[1:] {
		upd = upd.Remove(expression.Name("conns." + id))
	}
	_, _ = s.updateProfile(ctx, userID, upd, cond(exists(attrPK)), types.ReturnValueNone)
}

// putConn writes a new connection with its siblings as of version cv. If
// a concurrent connect of the same user refreshed it first (creating the
// item with a newer list), only the connection's own attributes are set.
func (s *DynamoStore) putConn(ctx context.Context, c chat.Connection, sibs []chat.Target, cv int64) error {
	item, err := connItem(c)
	if err != nil {
		return err
	}
	own := maps.Clone(item)
	item["sibs"], item["sibsV"] = mapAV(targetsMap(sibs)), numAV(cv)
	w, err := put(item, cond(notExists(attrPK)))
	if err != nil {
		return err
	}
	err = s.write(ctx, w)
	if _, raced := failedAt(err, 0); !raced {
		return err
	}
	upd := expression.UpdateBuilder{}
	for _, name := range slices.Sorted(maps.Keys(own)) {
		if name != attrPK && name != attrSK {
			upd = upd.Set(expression.Name(name), expression.Value(own[name]))
		}
	}
	w, err = update(connKey(c.ConnID), upd, nil)
	if err != nil {
		return err
	}
	return s.write(ctx, w)
}

func mapAV(m map[string]int64) types.AttributeValue {
	av, _ := attributevalue.Marshal(m)
	return av
}

// aheadTTL bounds the life of a connection item that a sibling refresh
// created: the connection's own write, one round trip behind, gives it
// the connection's TTL.
const aheadTTL = time.Minute

// refreshSiblings writes the user's live connections, as of version cv,
// onto each of them (all of them when self is set, else all but skip). A
// refresh older than the one an item holds changes nothing. A refresh may
// reach a connection before its own write (a concurrent connect): it then
// creates the item, which that write completes (putConn). It cannot tell
// that case from a connection deleted just before (a $disconnect racing a
// sibling's $connect), so the item it creates gets a TTL of aheadTTL
// unless the connection's own write sets the connection's: a sibling list
// of a closed connection is not kept for the connection's whole life.
// Readers take an item without connId for no connection (GetConnection).
func (s *DynamoStore) refreshSiblings(ctx context.Context, sibs []chat.Target, cv int64, self bool, skip string) []func() error {
	m := targetsMap(sibs)
	ahead := s.now().Add(aheadTTL)
	var jobs []func() error
	for _, t := range sibs {
		if t.ConnID == skip && !self {
			continue
		}
		expires := t.ExpiresAt
		if expires.After(ahead) {
			expires = ahead
		}
		jobs = append(jobs, func() error {
			ttl := expression.Name(attrTTL)
			w, err := update(connKey(t.ConnID),
				expression.Set(expression.Name("sibs"), expression.Value(m)).Set(expression.Name("sibsV"), expression.Value(cv)).
					Set(ttl, expression.IfNotExists(ttl, expression.Value(epochCeil(expires)))),
				cond(expression.Or(notExists("sibsV"), expression.Name("sibsV").LessThan(expression.Value(cv)))))
			if err != nil {
				return err
			}
			err = s.write(ctx, w)
			if _, stale := failedAt(err, 0); stale {
				return nil
			}
			return err
		})
	}
	return jobs
}

// seatConn adds (exp > 0) or removes a connection of userID on their seat
// in room; a seat that holds someone else by now is left alone.
func (s *DynamoStore) seatConn(ctx context.Context, room string, seat int, userID, connID string, exp int64) error {
	path := "seats[" + strconv.Itoa(seat) + "]"
	var upd expression.UpdateBuilder
	if exp > 0 {
		upd = expression.Set(expression.Name(path+".conns."+connID), expression.Value(exp))
	} else {
		upd = expression.Remove(expression.Name(path + ".conns." + connID))
	}
	w, err := update(roomKey(room), upd, cond(expression.Name(path+".userId").Equal(expression.Value(userID))))
	if err != nil {
		return err
	}
	err = s.write(ctx, w)
	if _, moved := failedAt(err, 0); moved {
		return nil
	}
	return err
}

// updateProfileCV is updateProfile returning the profile's connection
// version too.
func (s *DynamoStore) updateProfileCV(ctx context.Context, userID string, upd expression.UpdateBuilder, c *expression.ConditionBuilder, rv types.ReturnValue) (profileAttrs, int64, error) {
	b := expression.NewBuilder().WithUpdate(upd)
	if c != nil {
		b = b.WithCondition(*c)
	}
	e, err := built("update profile", b)
	if err != nil {
		return profileAttrs{}, 0, err
	}
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: profileKey(userID), UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: rv,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return profileAttrs{}, 0, &conditionError{index: 0, item: ccf.Item}
	}
	if err != nil {
		return profileAttrs{}, 0, err
	}
	p, err := decodeProfile(out.Attributes)
	if err != nil {
		return profileAttrs{}, 0, err
	}
	var v struct {
		CV int64 `dynamodbav:"cv"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &v); err != nil {
		return profileAttrs{}, 0, fmt.Errorf("decode user: %w", err)
	}
	return p, v.CV, nil
}

// Authenticate makes an anonymous connection speak for id: one conditional
// UpdateItem of the connection, then the user's profile as Connect does.
func (s *DynamoStore) Authenticate(ctx context.Context, connID string, id chat.Identity) (chat.Connection, bool, error) {
	userID := expression.Name("userId")
	w, err := update(connKey(connID),
		expression.Set(userID, expression.Value(id.UserID)).Set(expression.Name("username"), expression.Value(id.Username)),
		cond(expression.And(exists(attrPK), expression.Or(expression.AttributeNotExists(userID), userID.Equal(expression.Value(id.UserID))))))
	if err != nil {
		return chat.Connection{}, false, fmt.Errorf("authenticate: %w", err)
	}
	w.Update.TableName = &s.table
	e := w.Update
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: e.Key, UpdateExpression: e.UpdateExpression, ConditionExpression: e.ConditionExpression,
		ExpressionAttributeNames: e.ExpressionAttributeNames, ExpressionAttributeValues: e.ExpressionAttributeValues,
		ReturnValues: types.ReturnValueAllOld, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			return chat.Connection{}, false, fmt.Errorf("connection %q: %w", connID, chat.ErrNotFound)
		}
		return chat.Connection{}, false, fmt.Errorf("connection %q speaks for another user: %w", connID, chat.ErrForbidden)
	}
	if err != nil {
		return chat.Connection{}, false, fmt.Errorf("authenticate: %w", err)
	}
	c, err := decodeConn(out.Attributes, s.now())
	if err != nil {
		return chat.Connection{}, false, fmt.Errorf("authenticate: %w", err)
	}
	if !live(c, s.now()) {
		return chat.Connection{}, false, fmt.Errorf("connection %q expired: %w", connID, chat.ErrNotFound)
	}
	if c.UserID == id.UserID {
		return c, false, nil // it spoke for them already
	}
	c.UserID, c.Username = id.UserID, id.Username
	first, err := s.join(ctx, c, false)
	if err != nil {
		return chat.Connection{}, false, fmt.Errorf("authenticate: %w", err)
	}
	return c, first, nil
}

// GetConnection reads the connection; an expired one is not found, since
// the TTL sweeper deletes late.
func (s *DynamoStore) GetConnection(ctx context.Context, connID string) (chat.Connection, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: connKey(connID)})
	if err != nil {
		return chat.Connection{}, fmt.Errorf("get connection: %w", err)
	}
	if len(out.Item) == 0 {
		return chat.Connection{}, fmt.Errorf("connection %q: %w", connID, chat.ErrNotFound)
	}
	now := s.now()
	c, err := decodeConn(out.Item, now)
	if err != nil {
		return chat.Connection{}, fmt.Errorf("get connection: %w", err)
	}
	// An item a sibling refresh made for a connection that never wrote
	// its own (it closed at once) is not a connection.
	if c.ConnID == "" || !live(c, now) {
		return chat.Connection{}, fmt.Errorf("connection %q expired: %w", connID, chat.ErrNotFound)
	}
	return c, nil
}

// Disconnect deletes the connection (one DeleteItem that returns it) and
// takes it off its user.
func (s *DynamoStore) Disconnect(ctx context.Context, connID string) (chat.Connection, bool, []chat.Left, error) {
	out, err := s.deleteItem(ctx, &dynamodb.DeleteItemInput{Key: connKey(connID), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return chat.Connection{}, false, nil, fmt.Errorf("disconnect: %w", err)
	}
	if len(out.Attributes) == 0 {
		return chat.Connection{}, false, nil, fmt.Errorf("connection %q: %w", connID, chat.ErrNotFound)
	}
	c, err := decodeConn(out.Attributes, s.now())
	if err != nil {
		return chat.Connection{}, false, nil, fmt.Errorf("disconnect: %w", err)
	}
	if !c.Authenticated() {
		return c, false, nil, nil
	}
	last, left, err := s.leaveConns(ctx, c.UserID, []string{connID})
	if err != nil {
		return chat.Connection{}, false, nil, fmt.Errorf("disconnect: %w", err)
	}
	return c, last, left, nil
}

// Forget deletes dead connections of a user and takes them off the user.
func (s *DynamoStore) Forget(ctx context.Context, userID string, connIDs []string) (bool, []chat.Left, error) {
	var reqs []types.WriteRequest
	for _, id := range connIDs {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: connKey(id)}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return false, nil, fmt.Errorf("forget: %w", err)
	}
	last, left, err := s.leaveConns(ctx, userID, connIDs)
	if err != nil {
		return false, nil, fmt.Errorf("forget: %w", err)
	}
	return last, left, nil
}

// leaveConns takes connections off their user. The common case, a user's
// only connection closing, is one UpdateItem that also clears their seats
// (on the condition that these are all the connections the profile
// lists); then the user leaves each room. Otherwise the connections are
// removed, and if none live is left the seats are cleared in a second
// update, on the condition that no connection arrived in between.
func (s *DynamoStore) leaveConns(ctx context.Context, userID string, ids []string) (bool, []chat.Left, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	now := s.now()
	all := expression.Name("conns").Size().Equal(expression.Value(len(ids)))
	upd := expression.Set(expression.Name("lastSeen"), expression.Value(now.UnixMilli())).
		Set(expression.Name("rooms"), expression.Value(map[string]int{})).Add(expression.Name("cv"), expression.Value(1))
	for _, id := range ids {
		all = all.And(exists("conns." + id))
		upd = upd.Remove(expression.Name("conns." + id))
	}
	p, cv, err := s.updateProfileCV(ctx, userID, upd, &all, types.ReturnValueAllOld)
	if err == nil {
		// cv+1 is this update's; a seat taken since has a newer one.
		return true, s.leaveRooms(ctx, userID, p.Rooms, cv+2), nil
	}
	old, failed := failedAt(err, 0)
	if !failed {
		return false, nil, err
	}
	if len(old) == 0 {
		return false, nil, nil // no such user
	}
	rm := expression.Add(expression.Name("cv"), expression.Value(1))
	for _, id := range ids {
		rm = rm.Remove(expression.Name("conns." + id))
	}
	p, cv, err = s.updateProfileCV(ctx, userID, rm, cond(exists(attrPK)), types.ReturnValueAllOld)
	if err != nil {
		return false, nil, err
	}
	cv++
	// A user who held none of these connections and no seat was offline
	// already: nothing changes for them.
	had := len(p.Rooms) > 0
	for _, id := range ids {
		if _, ok := p.Conns[id]; ok {
			had = true
		}
		delete(p.Conns, id)
	}
	if !had {
		return false, nil, nil
	}
	sibs := liveConns(userID, p.Conns, now)
	if len(sibs) > 0 {
		jobs := s.refreshSiblings(ctx, sibs, cv, true, "")
		for room, seat := range p.Rooms {
			for _, id := range ids {
				jobs = append(jobs, func() error { return s.seatConn(ctx, room, seat, userID, id, 0) })
			}
		}
		return false, nil, parallel(jobs...)
	}
	clear := expression.Set(expression.Name("lastSeen"), expression.Value(now.UnixMilli())).
		Set(expression.Name("rooms"), expression.Value(map[string]int{})).Add(expression.Name("cv"), expression.Value(1))
	for _, id := range expiredConns(p.Conns, now) {
		clear = clear.Remove(expression.Name("conns." + id))
	}
	_, _, err = s.updateProfileCV(ctx, userID, clear, cond(expression.Name("cv").Equal(expression.Value(cv))), types.ReturnValueNone)
	if _, raced := failedAt(err, 0); raced {
		return false, nil, nil // a connection arrived: the user is online again
	}
	if err != nil {
		return false, nil, err
	}
	return true, s.leaveRooms(ctx, userID, p.Rooms, cv+2), nil
}

// leaveRooms unseats a user who went offline from every room, but not
// from a seat taken at cv before or later (see unseat): one taken by a
// connection that came after the update that cleared the profile. A room
// that fails is logged by the caller's next look at it; the others still
// go.
func (s *DynamoStore) leaveRooms(ctx context.Context, userID string, rooms map[string]int, before int64) []chat.Left {
	var left []chat.Left
	for _, room := range slices.Sorted(maps.Keys(rooms)) {
		l, changed, err := s.unseat(ctx, room, rooms[room], userID, before)
		if err == nil && changed {
			left = append(left, l)
		}
	}
	return left
}

// Targets reads the profiles of users and the rooms with one BatchGetItem.
func (s *DynamoStore) Targets(ctx context.Context, users, rooms []string) ([]chat.Target, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(users)+len(rooms))
	for _, u := range users {
		keys = append(keys, profileKey(u))
	}
	for _, r := range rooms {
		keys = append(keys, roomKey(r))
	}
	now := s.now()
	var out []chat.Target
	err := s.batchGet(ctx, keys, func(item map[string]types.AttributeValue) error {
		if skOf(item) == skMeta {
			a, err := decodeRoomAttrs(item)
			if err != nil {
				return err
			}
			out = append(out, a.room(now).Targets()...)
			return nil
		}
		p, err := decodeProfile(item)
		if err != nil {
			return err
		}
		out = append(out, liveConns(p.UserID, p.Conns, now)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return out, nil
}
