package dynamostore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Bounds that keep every number of a bucket an integer below 2^53
// microseconds, exact in any DynamoDB emulator that computes in float64.
const (
	maxInterval = 1e12 // microseconds: one token per 11.6 days at the slowest
	maxBurst    = 1000
)

var _ chat.Limiter = (*DynamoLimiter)(nil)

// DynamoLimiter is the chat.Limiter of Lambda: buckets and counters are
// items of the chat table, so every instance of every function shares them.
type DynamoLimiter struct {
	s *DynamoStore
}

// NewLimiter returns a limiter on table through client.
func NewLimiter(client API, table string, opts ...Option) *DynamoLimiter {
	return &DynamoLimiter{s: New(client, table, opts...)}
}

// Allow is GCRA, the token bucket kept as one number: tat, the time at
// which the bucket is full again. A request at now may take a token when
// tat <= now + tau (tau = (burst-1) intervals), and then tat becomes
// max(tat, now) + interval. DynamoDB has no max, so the two cases are two
// conditional updates, each atomic on the server: no read, no retry loop.
// tat only grows, so once the first has failed (tat > now) a failing
// second one means the bucket is empty.
// A refusal says how long until a token is back: tat, as the failed
// condition returns it, minus now+tau.
func (l *DynamoLimiter) Allow(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, time.Duration, error) {
	s := l.s
	if burst < 1 {
		return false, time.Hour, nil
	}
	burst = min(burst, maxBurst)
	interval := int64(maxInterval)
	if rate > 0 {
		interval = int64(min(math.Ceil(1e6/rate), maxInterval))
	}
	nowUS := now.UnixMicro()
	tau := int64(burst-1) * interval
	tat := expression.Name("tat")
	// The item may go once the bucket is full again; tat never exceeds
	// now+tau+interval after an update.
	ttl := expression.Name(attrTTL)
	expiry := expression.Value(epochCeil(time.UnixMicro(nowUS+tau+interval)) + 60)

	full, err := update(rateKey(key),
		expression.Set(tat, expression.Value(nowUS+interval)).Set(ttl, expiry),
		cond(expression.Or(expression.AttributeNotExists(tat), tat.LessThanEqual(expression.Value(nowUS)))))
	if err != nil {
		return false, 0, fmt.Errorf("allow: %w", err)
	}
	err = s.write(ctx, full)
	if err == nil {
		return true, 0, nil
	}
	if _, failed := failedAt(err, 0); !failed {
		return false, 0, fmt.Errorf("allow: %w", err)
	}
	partial, err := update(rateKey(key),
		expression.Set(tat, tat.Plus(expression.Value(interval))).Set(ttl, expiry),
		cond(expression.And(tat.GreaterThan(expression.Value(nowUS)), tat.LessThanEqual(expression.Value(nowUS+tau)))))
	if err != nil {
		return false, 0, fmt.Errorf("allow: %w", err)
	}
	err = s.write(ctx, partial)
	if err == nil {
		return true, 0, nil
	}
	if old, failed := failedAt(err, 0); failed {
		var b struct {
			TAT int64 `dynamodbav:"tat"`
		}
		wait := time.Duration(interval) * time.Microsecond
		if attributevalue.UnmarshalMap(old, &b) == nil && b.TAT > 0 {
			wait = time.Duration(b.TAT-nowUS-tau) * time.Microsecond
		}
		return false, max(wait, time.Microsecond), nil
	}
	return false, 0, fmt.Errorf("allow: %w", err)
}

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
func (l *DynamoLimiter) Hit(ctx context.Context, k string, window time.Duration, now time.Time) (int, error) {
	s := l.s
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
func (l *DynamoLimiter) Hits(ctx context.Context, k string, window time.Duration, now time.Time) (int, error) {
	s := l.s
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
