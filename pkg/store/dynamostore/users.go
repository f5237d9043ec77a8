package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// maxBatchGet is BatchGetItem's limit of keys per request.
const maxBatchGet = 100

// maxSearch bounds one username search page.
const maxSearch = 100

// CreateUser writes the profile, then claims the username. Without a
// transaction (which would double the units of both items), a crash
// between the two leaves at worst a profile no name leads to; a taken name
// deletes the profile again.
func (s *DynamoStore) CreateUser(ctx context.Context, u chat.User) error {
	p, err := attributevalue.MarshalMap(profileAttrs{
		UserID: u.UserID, Username: u.Username, Avatar: u.Avatar, AvatarKey: u.AvatarKey,
		AvatarVersion: u.AvatarVersion, CreatedAt: formatTime(u.CreatedAt),
		Conns: map[string]int64{}, Rooms: map[string]int{},
	})
	if err != nil {
		return fmt.Errorf("create user: encode: %w", err)
	}
	profile, err := put(withKey(profileKey(u.UserID), p), cond(notExists(attrPK)))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if err := s.write(ctx, profile); err != nil {
		if _, taken := failedAt(err, 0); taken {
			return fmt.Errorf("create user: user id %q: %w", u.UserID, chat.ErrConflict)
		}
		return fmt.Errorf("create user: %w", err)
	}
	c, err := attributevalue.MarshalMap(unameAttrs{UserID: u.UserID, Username: u.Username, PasswordHash: u.PasswordHash})
	if err != nil {
		return fmt.Errorf("create user: encode: %w", err)
	}
	c[attrGSI1PK], c[attrGSI1SK] = strAV(usersPartition), strAV(u.Username)
	claim, err := put(withKey(unameKey(u.Username), c), cond(notExists(attrPK)))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	err = s.write(ctx, claim)
	if _, taken := failedAt(err, 0); taken {
		if _, err := s.deleteItem(ctx, &dynamodb.DeleteItemInput{Key: profileKey(u.UserID)}); err != nil {
			return fmt.Errorf("create user: remove the profile of a taken name: %w", err)
		}
		return fmt.Errorf("create user: username %q: %w", u.Username, chat.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByName reads the username claim, which holds what a login checks.
func (s *DynamoStore) UserByName(ctx context.Context, username string) (chat.User, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: unameKey(username)})
	if err != nil {
		return chat.User{}, fmt.Errorf("user by name: %w", err)
	}
	if len(out.Item) == 0 {
		return chat.User{}, fmt.Errorf("user %q: %w", username, chat.ErrNotFound)
	}
	var c unameAttrs
	if err := attributevalue.UnmarshalMap(out.Item, &c); err != nil {
		return chat.User{}, fmt.Errorf("user by name: decode: %w", err)
	}
	return chat.User{UserID: c.UserID, Username: c.Username, PasswordHash: c.PasswordHash}, nil
}

// Peers reads up to 100 profiles with one consistent BatchGetItem.
func (s *DynamoStore) Peers(ctx context.Context, ids []string) (map[string]chat.Peer, error) {
	out := make(map[string]chat.Peer, len(ids))
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, profileKey(id))
	}
	now := s.now()
	err := s.batchGet(ctx, keys, func(item map[string]types.AttributeValue) error {
		p, err := decodeProfile(item)
		if err != nil {
			return err
		}
		peer, err := p.peer(now)
		if err == nil {
			out[p.UserID] = peer
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	return out, nil
}

// batchGet reads keys (at most 100, deduplicated here) with consistent
// BatchGetItem calls, asking again for UnprocessedKeys with backoff, and
// hands each item found to each.
func (s *DynamoStore) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, each func(map[string]types.AttributeValue) error) error {
	return s.batchGetAs(ctx, keys, true, each)
}

// batchGetAs is batchGet, strongly consistent or not: an eventually
// consistent read costs half the units, for callers that can tell a stale
// answer (see PrivateContext).
func (s *DynamoStore) batchGetAs(ctx context.Context, keys []map[string]types.AttributeValue, consistent bool, each func(map[string]types.AttributeValue) error) error {
	if len(keys) == 0 {
		return nil
	}
	if len(keys) > maxBatchGet {
		return fmt.Errorf("batch get: %d keys, at most %d", len(keys), maxBatchGet)
	}
	seen := map[[2]string]bool{}
	var uniq []map[string]types.AttributeValue
	for _, k := range keys {
		id := [2]string{k[attrPK].(*types.AttributeValueMemberS).Value, k[attrSK].(*types.AttributeValueMemberS).Value}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, k)
		}
	}
	pending := map[string]types.KeysAndAttributes{s.table: {Keys: uniq, ConsistentRead: aws.Bool(consistent)}}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxAttempts {
			return fmt.Errorf("batch get: %w", errContention)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return err
		}
		out, err := s.batchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return err
		}
		for _, item := range out.Responses[s.table] {
			if err := each(item); err != nil {
				return err
			}
		}
		pending = out.UnprocessedKeys
	}
	return nil
}

// batchWrite puts and deletes items (any number) with BatchWriteItem, 25
// at a time, asking again for UnprocessedItems with backoff. It is for
// writes that need no condition and need not be atomic.
func (s *DynamoStore) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		pending := map[string][]types.WriteRequest{s.table: reqs[:n]}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == maxAttempts {
				return fmt.Errorf("batch write: %w", errContention)
			}
			if err := s.backoff(ctx, attempt); err != nil {
				return err
			}
			out, err := s.batchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
		reqs = reqs[n:]
	}
	return nil
}

// SearchUsers queries gsi1's one partition of usernames from prefix, then
// reads the profiles found (for their avatars).
func (s *DynamoStore) SearchUsers(ctx context.Context, prefix string, limit int) ([]chat.User, error) {
	limit = min(max(limit, 1), maxSearch)
	kc := expression.Key(attrGSI1PK).Equal(expression.Value(usersPartition))
	if prefix != "" {
		kc = kc.And(expression.Key(attrGSI1SK).BeginsWith(prefix))
	}
	e, err := built("search users", expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return nil, err
	}
	out, err := s.query(ctx, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	ids := make([]string, 0, len(out.Items))
	for _, item := range out.Items {
		var c unameAttrs
		if err := attributevalue.UnmarshalMap(item, &c); err != nil {
			return nil, fmt.Errorf("search users: decode: %w", err)
		}
		ids = append(ids, c.UserID)
	}
	peers, err := s.Peers(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	users := make([]chat.User, 0, len(ids))
	for _, id := range ids {
		if p, ok := peers[id]; ok {
			users = append(users, p.User)
		}
	}
	return users, nil
}

// SetAvatar updates the profile and returns it with the rooms the user
// sits in: one UpdateItem.
func (s *DynamoStore) SetAvatar(ctx context.Context, id chat.Identity, avatar, key, version string) (chat.User, []string, error) {
	upd := expression.Set(expression.Name("avatar"), expression.Value(avatar))
	if key != "" {
		upd = upd.Set(expression.Name("avatarKey"), expression.Value(key)).Set(expression.Name("avatarV"), expression.Value(version))
	}
	p, err := s.updateProfile(ctx, id.UserID, upd, cond(exists(attrPK)), types.ReturnValueAllNew)
	if _, none := failedAt(err, 0); none {
		return chat.User{}, nil, fmt.Errorf("user %q: %w", id.UserID, chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("set avatar: %w", err)
	}
	u, err := p.user()
	if err != nil {
		return chat.User{}, nil, fmt.Errorf("set avatar: %w", err)
	}
	var rooms []string
	var seats []func() error
	for r, seat := range p.Rooms {
		rooms = append(rooms, r)
		if key != "" {
			seats = append(seats, func() error { return s.seatAvatar(ctx, r, seat, id.UserID, version) })
		}
	}
	// A seat carries its user's image avatar version (GetRoom reads no
	// profile), so a new image reaches the seats too.
	if err := parallel(seats...); err != nil {
		return chat.User{}, nil, fmt.Errorf("set avatar: %w", err)
	}
	return u, rooms, nil
}

// seatAvatar sets the avatar version on userID's seat in room, unless the
// seat holds someone else by now.
func (s *DynamoStore) seatAvatar(ctx context.Context, room string, seat int, userID, version string) error {
	path := "seats[" + strconv.Itoa(seat) + "]"
	w, err := update(roomKey(room), expression.Set(expression.Name(path+".avatarV"), expression.Value(version)),
		cond(expression.Name(path+".userId").Equal(expression.Value(userID))))
	if err != nil {
		return err
	}
	err = s.write(ctx, w)
	if _, moved := failedAt(err, 0); moved {
		return nil
	}
	return err
}

// updateProfile applies one update to a profile and returns the profile as
// rv asks (a failed condition comes back as a *conditionError).
func (s *DynamoStore) updateProfile(ctx context.Context, userID string, upd expression.UpdateBuilder, c *expression.ConditionBuilder, rv types.ReturnValue) (profileAttrs, error) {
	b := expression.NewBuilder().WithUpdate(upd)
	if c != nil {
		b = b.WithCondition(*c)
	}
	e, err := built("update profile", b)
	if err != nil {
		return profileAttrs{}, err
	}
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: profileKey(userID), UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: rv,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return profileAttrs{}, &conditionError{index: 0, item: ccf.Item}
	}
	if err != nil {
		return profileAttrs{}, err
	}
	if len(out.Attributes) == 0 {
		return profileAttrs{}, nil
	}
	return decodeProfile(out.Attributes)
}

// parallel runs fns at once and returns the first error.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
