package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// API is the part of the DynamoDB client that DynamoStore uses. Both
// *dynamodb.Client and minidyn's in-memory client satisfy it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ chat.Store = (*DynamoStore)(nil)

// Request describes one request DynamoStore made, as an Observer sees it.
type Request struct {
	// Operation is the DynamoDB operation name, such as "GetItem".
	Operation string
	// ConsumedCapacity is what the service reported (every request asks
	// for TOTAL); emulators may report nothing.
	ConsumedCapacity []types.ConsumedCapacity
	// Err is the request's error, if any.
	Err error
}

// Observer is told about every request; it must be safe for concurrent use
// because some methods make requests in parallel.
type Observer func(ctx context.Context, r Request)

// Option configures a DynamoStore.
type Option func(*DynamoStore)

// WithObserver makes the store report every request to o (for metrics, and
// for the tests that count requests and capacity per action).
func WithObserver(o Observer) Option { return func(s *DynamoStore) { s.observe = o } }

// WithClock replaces time.Now, which decides whether connections and group
// messages have expired.
func WithClock(now func() time.Time) Option { return func(s *DynamoStore) { s.now = now } }

// WithIdempotencyTTL sets how long an idempotency key is remembered
// (default 24 h). DynamoDB's TTL sweeper deletes records some time after.
func WithIdempotencyTTL(d time.Duration) Option { return func(s *DynamoStore) { s.idemTTL = d } }

// WithGroupMessageTTL sets how long group messages are kept (default 24 h,
// the least the protocol promises): a TTL deletes them at no request cost.
func WithGroupMessageTTL(d time.Duration) Option { return func(s *DynamoStore) { s.groupTTL = d } }

// DynamoStore is the chat.Store on one DynamoDB table laid out as
// docs/data-model.md describes.
type DynamoStore struct {
	api      API
	table    string
	observe  Observer
	now      func() time.Time
	idemTTL  time.Duration
	groupTTL time.Duration
	// backoff waits before a retry; tests replace it to run fast.
	backoff func(ctx context.Context, attempt int) error
}

// DefaultIdempotencyTTL is how long idempotency keys are remembered unless
// WithIdempotencyTTL says otherwise.
const DefaultIdempotencyTTL = 24 * time.Hour

// DefaultGroupMessageTTL is how long group messages are kept unless
// WithGroupMessageTTL says otherwise.
const DefaultGroupMessageTTL = 24 * time.Hour

// The retry budget of optimistic writes.
const (
	// maxAttempts bounds every read-compute-write loop. A joiner loses a
	// race only when someone else changed the room, so eight seats need at
	// most nine rounds when only joins happen; the rest is for leaves and
	// TransactionConflict.
	maxAttempts = 40
	backoffBase = 2 * time.Millisecond
	backoffCap  = 100 * time.Millisecond
)

// New returns a store on table through client.
func New(client API, table string, opts ...Option) *DynamoStore {
	s := &DynamoStore{
		api:      client,
		table:    table,
		now:      time.Now,
		idemTTL:  DefaultIdempotencyTTL,
		groupTTL: DefaultGroupMessageTTL,
		backoff:  backoff,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errContention means an optimistic write kept losing races.
var errContention = fmt.Errorf("%w: too much contention, try again", chat.ErrConflict)

func (s *DynamoStore) report(ctx context.Context, op string, cc []types.ConsumedCapacity, err error) {
	if s.observe != nil {
		s.observe(ctx, Request{Operation: op, ConsumedCapacity: cc, Err: err})
	}
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

const total = types.ReturnConsumedCapacityTotal

func (s *DynamoStore) getItem(ctx context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity, in.ConsistentRead = &s.table, total, aws.Bool(true)
	out, err := s.api.GetItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = one(out.ConsumedCapacity)
	}
	s.report(ctx, "GetItem", cc, err)
	return out, err
}

func (s *DynamoStore) putItem(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &s.table, total
	out, err := s.api.PutItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = one(out.ConsumedCapacity)
	}
	s.report(ctx, "PutItem", cc, err)
	return out, err
}

func (s *DynamoStore) updateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &s.table, total
	out, err := s.api.UpdateItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = one(out.ConsumedCapacity)
	}
	s.report(ctx, "UpdateItem", cc, err)
	return out, err
}

func (s *DynamoStore) deleteItem(ctx context.Context, in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &s.table, total
	out, err := s.api.DeleteItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = one(out.ConsumedCapacity)
	}
	s.report(ctx, "DeleteItem", cc, err)
	return out, err
}

func (s *DynamoStore) query(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &s.table, total
	out, err := s.api.Query(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = one(out.ConsumedCapacity)
	}
	s.report(ctx, "Query", cc, err)
	return out, err
}

func (s *DynamoStore) batchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := s.api.BatchGetItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	s.report(ctx, "BatchGetItem", cc, err)
	return out, err
}

func (s *DynamoStore) batchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := s.api.BatchWriteItem(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	s.report(ctx, "BatchWriteItem", cc, err)
	return out, err
}

// conditionError says that a write failed its condition, and what the
// item held then when the service returned it. index is 0: the store
// writes one item at a time.
type conditionError struct {
	index int
	item  map[string]types.AttributeValue
}

func (e *conditionError) Error() string {
	return fmt.Sprintf("condition of write %d failed", e.index)
}

// write applies one write (the store uses no transactions: they bill
// every item twice). A failed condition comes back as *conditionError
// with the item as it was, when the service returned it.
func (s *DynamoStore) write(ctx context.Context, w types.TransactWriteItem) error {
	setTable(&w, &s.table)
	return s.writeOne(ctx, w)
}

func setTable(w *types.TransactWriteItem, table *string) {
	switch {
	case w.Put != nil:
		w.Put.TableName = table
	case w.Update != nil:
		w.Update.TableName = table
	case w.Delete != nil:
		w.Delete.TableName = table
	case w.ConditionCheck != nil:
		w.ConditionCheck.TableName = table
	}
}

func (s *DynamoStore) writeOne(ctx context.Context, w types.TransactWriteItem) error {
	var err error
	switch {
	case w.Put != nil:
		p := w.Put
		_, err = s.putItem(ctx, &dynamodb.PutItemInput{
			Item: p.Item, ConditionExpression: p.ConditionExpression,
			ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: p.ReturnValuesOnConditionCheckFailure,
		})
	case w.Update != nil:
		u := w.Update
		_, err = s.updateItem(ctx, &dynamodb.UpdateItemInput{
			Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: u.ReturnValuesOnConditionCheckFailure,
		})
	case w.Delete != nil:
		d := w.Delete
		_, err = s.deleteItem(ctx, &dynamodb.DeleteItemInput{
			Key: d.Key, ConditionExpression: d.ConditionExpression,
			ExpressionAttributeNames: d.ExpressionAttributeNames, ExpressionAttributeValues: d.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: d.ReturnValuesOnConditionCheckFailure,
		})
	default:
		return errors.New("write: unsupported single write")
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return &conditionError{index: 0, item: ccf.Item}
	}
	return err
}

// failedAt reports whether err is a failed condition of write i, and the
// item the service returned with it.
func failedAt(err error, i int) (map[string]types.AttributeValue, bool) {
	var ce *conditionError
	if errors.As(err, &ce) && ce.index == i {
		return ce.item, true
	}
	return nil, false
}

// retryable reports whether an optimistic write lost a race and should be
// tried again after a fresh read.
func retryable(err error) bool {
	var ce *conditionError
	return errors.As(err, &ce)
}

// backoff sleeps before attempt (0-based) with full jitter, so that
// concurrent losers do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	d := min(backoffBase<<min(attempt-1, 10), backoffCap)
	t := time.NewTimer(rand.N(d) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// keyQuery is a strongly consistent Query of the table by kc, newest
// first unless forward, at most limit items (0: no limit).
func keyQuery(op string, kc expression.KeyConditionBuilder, forward bool, limit int) (*dynamodb.QueryInput, error) {
	e, err := built(op, expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ScanIndexForward:          aws.Bool(forward),
		ConsistentRead:            aws.Bool(true),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	return in, nil
}

// queryAll reads, strongly consistently, every item of partition pk whose
// sort key begins with skPrefix (all of them for ""), following pages.
// Callers use it only for item sets bounded by one user's own data
// (conversations, subscribers), never for anything that grows with the
// table.
func (s *DynamoStore) queryAll(ctx context.Context, pk, skPrefix string, each func(map[string]types.AttributeValue) error) error {
	kc := expression.Key(attrPK).Equal(expression.Value(pk))
	if skPrefix != "" {
		kc = kc.And(expression.Key(attrSK).BeginsWith(skPrefix))
	}
	in, err := keyQuery("query", kc, true, 0)
	if err != nil {
		return err
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
