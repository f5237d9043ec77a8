package dynamostore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
)

// Bounds that keep every number of a bucket an integer below 2^53
// microseconds, exact in any DynamoDB emulator that computes in float64.
const (
	maxInterval = 1e12 // microseconds: one token per 11.6 days at the slowest
	maxBurst    = 1000
)

// Allow is GCRA, the token bucket kept as one number: tat, the time at
// which the bucket is full again. A request at now may take a token when
// tat <= now + tau (tau = (burst-1) intervals), and then tat becomes
// max(tat, now) + interval. DynamoDB has no max, so the two cases are two
// conditional updates, each atomic on the server: no read, no retry loop.
// tat only grows, so once the first has failed (tat > now) a failing
// second one means the bucket is empty.
func (s *DynamoStore) Allow(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, error) {
	if burst < 1 {
		return false, nil
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
		return false, fmt.Errorf("allow: %w", err)
	}
	err = s.write(ctx, full)
	if err == nil {
		return true, nil
	}
	if _, failed := failedAt(err, 0); !failed {
		return false, fmt.Errorf("allow: %w", err)
	}
	partial, err := update(rateKey(key),
		expression.Set(tat, tat.Plus(expression.Value(interval))).Set(ttl, expiry),
		cond(expression.And(tat.GreaterThan(expression.Value(nowUS)), tat.LessThanEqual(expression.Value(nowUS+tau)))))
	if err != nil {
		return false, fmt.Errorf("allow: %w", err)
	}
	err = s.write(ctx, partial)
	if err == nil {
		return true, nil
	}
	if _, failed := failedAt(err, 0); failed {
		return false, nil
	}
	return false, fmt.Errorf("allow: %w", err)
}
