package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// PutConnection writes the connection and, when it speaks for a user, its
// index item under the user, in one transaction. The condition says the
// stored connection (if any) spoke for nobody or for the same user; only
// when it spoke for someone else does a second transaction, which also
// deletes that user's index item, follow.
func (s *DynamoStore) PutConnection(ctx context.Context, c chat.Connection) error {
	attrs, err := connAttributes(c)
	if err != nil {
		return fmt.Errorf("put connection: %w", err)
	}
	prev := c.UserID // whom the stored connection is believed to speak for
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return fmt.Errorf("put connection: %w", err)
		}
		ws, err := putConnWrites(c, attrs, prev)
		if err != nil {
			return fmt.Errorf("put connection: %w", err)
		}
		err = s.write(ctx, ws...)
		if err == nil {
			return nil
		}
		old, failed := failedAt(err, 0)
		if !failed {
			if errors.Is(err, errRace) {
				continue
			}
			return fmt.Errorf("put connection: %w", err)
		}
		if old == nil {
			out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: connKey(c.ConnID)})
			if err != nil {
				return fmt.Errorf("put connection: %w", err)
			}
			old = out.Item
		}
		prev = ""
		if oc, err := decodeConn(old); err == nil {
			prev = oc.UserID
		}
	}
	return fmt.Errorf("put connection: %w", errContention)
}

// putConnWrites are the writes that replace a connection stored for prev
// ("" = anonymous or absent) with c. The first write is the connection.
func putConnWrites(c chat.Connection, attrs map[string]types.AttributeValue, prev string) ([]types.TransactWriteItem, error) {
	userID := expression.Name("userId")
	var cnd expression.ConditionBuilder
	switch {
	case prev == "":
		cnd = expression.AttributeNotExists(userID)
	case prev == c.UserID:
		cnd = expression.Or(expression.AttributeNotExists(userID), userID.Equal(expression.Value(prev)))
	default:
		cnd = userID.Equal(expression.Value(prev))
	}
	conn, err := put(withKey(connKey(c.ConnID), attrs), &cnd)
	if err != nil {
		return nil, err
	}
	ws := []types.TransactWriteItem{conn}
	if prev != "" && prev != c.UserID {
		d, err := del(connIndexKey(prev, c.ConnID), nil)
		if err != nil {
			return nil, err
		}
		ws = append(ws, d)
	}
	if c.UserID != "" {
		idx, err := put(withKey(connIndexKey(c.UserID, c.ConnID), attrs), nil)
		if err != nil {
			return nil, err
		}
		ws = append(ws, idx)
	}
	return ws, nil
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
	c, err := decodeConn(out.Item)
	if err != nil {
		return chat.Connection{}, fmt.Errorf("get connection: %w", err)
	}
	if !live(c, s.now()) {
		return chat.Connection{}, fmt.Errorf("connection %q expired: %w", connID, chat.ErrNotFound)
	}
	return c, nil
}

// DeleteConnection reads the connection to learn its user, then deletes it
// and its index item in one transaction on the condition that it still
// speaks for that user.
func (s *DynamoStore) DeleteConnection(ctx context.Context, connID string) (chat.Connection, error) {
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
		}
		out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: connKey(connID)})
		if err != nil {
			return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
		}
		if len(out.Item) == 0 {
			return chat.Connection{}, fmt.Errorf("connection %q: %w", connID, chat.ErrNotFound)
		}
		c, err := decodeConn(out.Item)
		if err != nil {
			return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
		}
		userID := expression.Name("userId")
		cnd := expression.And(exists(attrPK), expression.AttributeNotExists(userID))
		if c.UserID != "" {
			cnd = userID.Equal(expression.Value(c.UserID))
		}
		conn, err := del(connKey(connID), &cnd)
		if err != nil {
			return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
		}
		ws := []types.TransactWriteItem{conn}
		if c.UserID != "" {
			idx, err := del(connIndexKey(c.UserID, connID), nil)
			if err != nil {
				return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
			}
			ws = append(ws, idx)
		}
		err = s.write(ctx, ws...)
		if retryable(err) {
			continue
		}
		if err != nil {
			return chat.Connection{}, fmt.Errorf("delete connection: %w", err)
		}
		return c, nil
	}
	return chat.Connection{}, fmt.Errorf("delete connection: %w", errContention)
}

// maxParallel bounds ConnectionsOf's concurrent Queries: a room's members
// and one more.
const maxParallel = chat.SeatCount + 1

// ConnectionsOf runs one strongly consistent Query per user, in parallel,
// over that user's connection index items.
func (s *DynamoStore) ConnectionsOf(ctx context.Context, userIDs ...string) ([]chat.Connection, error) {
	seen := make(map[string]bool, len(userIDs))
	var users []string
	for _, id := range userIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	results := make([][]chat.Connection, len(users))
	errs := make([]error, len(users))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, id := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = s.connectionsOfUser(ctx, id)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("connections of: %w", err)
	}
	var all []chat.Connection
	for _, cs := range results {
		all = append(all, cs...)
	}
	return all, nil
}

func (s *DynamoStore) connectionsOfUser(ctx context.Context, userID string) ([]chat.Connection, error) {
	now := s.now()
	var conns []chat.Connection
	err := s.queryAll(ctx, prefixUser+userID, prefixConn, func(item map[string]types.AttributeValue) error {
		c, err := decodeConn(item)
		if err != nil {
			return err
		}
		if live(c, now) && c.Authenticated() {
			conns = append(conns, c)
		}
		return nil
	})
	return conns, err
}

// queryAll reads, strongly consistently, every item of partition pk whose
// sort key begins with skPrefix, following pages. Callers use it only for
// item sets bounded by one user's own data (connections, rooms,
// conversations), never for anything that grows with the table.
func (s *DynamoStore) queryAll(ctx context.Context, pk, skPrefix string, each func(map[string]types.AttributeValue) error) error {
	kc := expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(skPrefix))
	e, err := built("query", expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return err
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.query(ctx, in)
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if err := each(item); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
