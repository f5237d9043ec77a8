package dynamostore

import (
	"context"
	"fmt"

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

// CreateUser stores the profile and the username claim in one
// transaction; either condition failing means the name (or id) is taken.
func (s *DynamoStore) CreateUser(ctx context.Context, u chat.User) error {
	claim, err := put(withKey(unameKey(u.Username), map[string]types.AttributeValue{"userId": strAV(u.UserID)}), cond(notExists(attrPK)))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	item, err := userItem(u)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	profile, err := put(item, cond(notExists(attrPK)))
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	err = s.write(ctx, claim, profile)
	if _, taken := failedAt(err, 0); taken {
		return fmt.Errorf("create user: username %q: %w", u.Username, chat.ErrConflict)
	}
	if _, taken := failedAt(err, 1); taken {
		return fmt.Errorf("create user: user id %q: %w", u.UserID, chat.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByName reads the username claim, then the profile it names.
func (s *DynamoStore) UserByName(ctx context.Context, username string) (chat.User, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: unameKey(username)})
	if err != nil {
		return chat.User{}, fmt.Errorf("user by name: %w", err)
	}
	var claim struct {
		UserID string `dynamodbav:"userId"`
	}
	if len(out.Item) == 0 {
		return chat.User{}, fmt.Errorf("user %q: %w", username, chat.ErrNotFound)
	}
	if err := attributevalue.UnmarshalMap(out.Item, &claim); err != nil {
		return chat.User{}, fmt.Errorf("user by name: decode claim: %w", err)
	}
	return s.UserByID(ctx, claim.UserID)
}

// UserByID reads one profile.
func (s *DynamoStore) UserByID(ctx context.Context, userID string) (chat.User, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: profileKey(userID)})
	if err != nil {
		return chat.User{}, fmt.Errorf("user by id: %w", err)
	}
	if len(out.Item) == 0 {
		return chat.User{}, fmt.Errorf("user %q: %w", userID, chat.ErrNotFound)
	}
	return decodeUser(out.Item)
}

// UsersByID reads up to 100 profiles with one BatchGetItem, asking again
// for keys the service leaves unprocessed.
func (s *DynamoStore) UsersByID(ctx context.Context, ids []string) (map[string]chat.User, error) {
	users := make(map[string]chat.User, len(ids))
	seen := make(map[string]bool, len(ids))
	var keys []map[string]types.AttributeValue
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, profileKey(id))
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), maxBatchGet)
		if err := s.batchGet(ctx, keys[:n], func(item map[string]types.AttributeValue) error {
			u, err := decodeUser(item)
			if err == nil {
				users[u.UserID] = u
			}
			return err
		}); err != nil {
			return nil, fmt.Errorf("users by id: %w", err)
		}
		keys = keys[n:]
	}
	return users, nil
}

// batchGet reads keys (at most 100) consistently and hands every item found
// to each, retrying unprocessed keys a bounded number of times.
func (s *DynamoStore) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, each func(map[string]types.AttributeValue) error) error {
	for attempt := 0; len(keys) > 0; attempt++ {
		if attempt == maxAttempts {
			return fmt.Errorf("batch get: %d keys still unprocessed: %w", len(keys), errContention)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return err
		}
		out, err := s.batchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return err
		}
		for _, item := range out.Responses[s.table] {
			if err := each(item); err != nil {
				return err
			}
		}
		keys = out.UnprocessedKeys[s.table].Keys
	}
	return nil
}

// SearchUsers queries gsi1, where every profile sits in one partition
// sorted by username.
func (s *DynamoStore) SearchUsers(ctx context.Context, prefix string, limit int) ([]chat.User, error) {
	if limit <= 0 {
		return nil, nil
	}
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
		Limit:                     aws.Int32(int32(min(limit, maxSearch))),
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	users := make([]chat.User, 0, len(out.Items))
	for _, item := range out.Items {
		u, err := decodeUser(item)
		if err != nil {
			return nil, fmt.Errorf("search users: %w", err)
		}
		users = append(users, u)
	}
	return users, nil
}

// SetAvatar updates the profile in place, if there is one.
func (s *DynamoStore) SetAvatar(ctx context.Context, userID, avatar string) error {
	w, err := update(profileKey(userID), expression.Set(expression.Name("avatar"), expression.Value(avatar)), cond(exists(attrPK)))
	if err != nil {
		return fmt.Errorf("set avatar: %w", err)
	}
	err = s.write(ctx, w)
	if _, missing := failedAt(err, 0); missing {
		return fmt.Errorf("set avatar: user %q: %w", userID, chat.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set avatar: %w", err)
	}
	return nil
}
