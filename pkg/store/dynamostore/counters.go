package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// counterKey names the counter of one fixed window: each window is its own
// item, so a new window starts at zero without a reset, and old ones
// expire by TTL.
func counterKey(k string, window time.Duration, now time.Time) (map[string]types.AttributeValue, time.Time, error) {
	if window <= 0 {
		return nil, time.Time{}, fmt.Errorf("counter %q: window %v must be positive", k, window)
	}
	start := now.UnixNano() / int64(window) * int64(window)
	end := time.Unix(0, start).Add(window)
	return key(prefixHit+k+"#"+strconv.FormatInt(start, 10), skHit), end, nil
}

type counterAttrs struct {
	Count int `dynamodbav:"count"`
}

// Hit adds one to the window's counter with one atomic UpdateItem and
// returns the new count.
func (s *DynamoStore) Hit(ctx context.Context, k string, window time.Duration, now time.Time) (int, error) {
	ck, end, err := counterKey(k, window, now)
	if err != nil {
		return 0, fmt.Errorf("hit: %w", err)
	}
	e, err := built("hit", expression.NewBuilder().WithUpdate(
		expression.Add(expression.Name("count"), expression.Value(1)).
			Set(expression.Name(attrTTL), expression.Value(epochCeil(end)+60))))
	if err != nil {
		return 0, err
	}
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: ck, UpdateExpression: e.Update(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("hit: %w", err)
	}
	var a counterAttrs
	if err := attributevalue.UnmarshalMap(out.Attributes, &a); err != nil {
		return 0, fmt.Errorf("hit: decode counter: %w", err)
	}
	return a.Count, nil
}

// Hits reads the window's counter.
func (s *DynamoStore) Hits(ctx context.Context, k string, window time.Duration, now time.Time) (int, error) {
	ck, _, err := counterKey(k, window, now)
	if err != nil {
		return 0, fmt.Errorf("hits: %w", err)
	}
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: ck})
	if err != nil {
		return 0, fmt.Errorf("hits: %w", err)
	}
	var a counterAttrs
	if err := attributevalue.UnmarshalMap(out.Item, &a); err != nil {
		return 0, fmt.Errorf("hits: decode counter: %w", err)
	}
	return a.Count, nil
}
