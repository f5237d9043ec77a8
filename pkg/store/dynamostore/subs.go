package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type subAttrs struct {
	Expires int64 `dynamodbav:"expires"`
	TTL     int64 `dynamodbav:"ttl"`
}

// Subscribe puts one item per watched user, in the watched user's
// partition (so a presence change finds its subscribers with one Query),
// expiring with the connection.
func (s *DynamoStore) Subscribe(ctx context.Context, sub string, userIDs []string, expires time.Time) error {
	av, err := attributevalue.MarshalMap(subAttrs{Expires: expires.UnixMilli(), TTL: epochCeil(expires)})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	reqs := make([]types.WriteRequest, 0, len(userIDs))
	for _, id := range userIDs {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: withKey(subKey(id, sub), av)}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Unsubscribe deletes those items.
func (s *DynamoStore) Unsubscribe(ctx context.Context, sub string, userIDs []string) error {
	reqs := make([]types.WriteRequest, 0, len(userIDs))
	for _, id := range userIDs {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: subKey(id, sub)}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// Subscribers queries the watched user's partition of subscriptions.
func (s *DynamoStore) Subscribers(ctx context.Context, userID string) ([]string, error) {
	now := s.now().UnixMilli()
	var out []string
	err := s.queryAll(ctx, prefixSub+userID, "", func(item map[string]types.AttributeValue) error {
		var a subAttrs
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return err
		}
		if a.Expires > now {
			out = append(out, skOf(item))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	return out, nil
}
