package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// usage is what a stretch of work cost: requests per operation, and the
// capacity units DynamoDB would bill for them.
type usage struct {
	ops      map[string]int
	rcu, wcu float64
	// untracked counts requests that did not ask for ReturnConsumedCapacity.
	untracked int
}

func (u usage) requests() int {
	n := 0
	for _, c := range u.ops {
		n += c
	}
	return n
}

// opsString lists the operations in a stable order: "GetItem 1, Query 2".
func (u usage) opsString() string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(u.ops)) {
		parts = append(parts, fmt.Sprintf("%s %d", op, u.ops[op]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// meter is the client under test with a meter on it: while on, it counts
// every request and estimates its capacity units from the sizes of the
// items it reads and writes, by DynamoDB's published billing rules. The
// sizes of written items are read before and after each write through the
// wrapped client, outside the count (so the meter is meant for sequential
// scripts; concurrent reads are fine).
type meter struct {
	tableAPI
	table string

	mu  sync.Mutex
	on  bool
	cur usage
}

func newMeter(api tableAPI, table string) *meter {
	return &meter{tableAPI: api, table: table}
}

// start begins a new measurement.
func (m *meter) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on, m.cur = true, usage{ops: map[string]int{}}
}

// stop ends the measurement and returns it.
func (m *meter) stop() usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on = false
	return m.cur
}

func (m *meter) active() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on
}

func (m *meter) record(op string, rcc types.ReturnConsumedCapacity, rcu, wcu float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		return
	}
	m.cur.ops[op]++
	m.cur.rcu += rcu
	m.cur.wcu += wcu
	if rcc != types.ReturnConsumedCapacityTotal {
		m.cur.untracked++
	}
}

// current reads an item as it is now, unmetered.
func (m *meter) current(ctx context.Context, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	out, err := m.tableAPI.GetItem(ctx, &dynamodb.GetItemInput{TableName: &m.table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil
	}
	return out.Item
}

func (m *meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := m.tableAPI.GetItem(ctx, in, optFns...)
	var item map[string]types.AttributeValue
	if out != nil {
		item = out.Item
	}
	m.record("GetItem", in.ReturnConsumedCapacity, readUnits(itemSize(item), aws.ToBool(in.ConsistentRead)), 0)
	return out, err
}

func (m *meter) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := m.tableAPI.Query(ctx, in, optFns...)
	size := 0
	if out != nil {
		for _, item := range out.Items {
			size += itemSize(item)
		}
	}
	m.record("Query", in.ReturnConsumedCapacity, readUnits(size, aws.ToBool(in.ConsistentRead)), 0)
	return out, err
}

func (m *meter) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := m.tableAPI.BatchGetItem(ctx, in, optFns...)
	rcu := 0.0
	if m.active() {
		for _, ka := range in.RequestItems {
			for _, k := range ka.Keys {
				rcu += readUnits(itemSize(m.current(ctx, k)), aws.ToBool(ka.ConsistentRead))
			}
		}
	}
	m.record("BatchGetItem", in.ReturnConsumedCapacity, rcu, 0)
	return out, err
}

func (m *meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	w := m.before(ctx, types.TransactWriteItem{Put: &types.Put{Item: in.Item}})
	out, err := m.tableAPI.PutItem(ctx, in, optFns...)
	m.record("PutItem", in.ReturnConsumedCapacity, 0, m.after(ctx, w, err == nil))
	return out, err
}

func (m *meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	w := m.before(ctx, types.TransactWriteItem{Update: &types.Update{Key: in.Key}})
	out, err := m.tableAPI.UpdateItem(ctx, in, optFns...)
	m.record("UpdateItem", in.ReturnConsumedCapacity, 0, m.after(ctx, w, err == nil))
	return out, err
}

func (m *meter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	w := m.before(ctx, types.TransactWriteItem{Delete: &types.Delete{Key: in.Key}})
	out, err := m.tableAPI.DeleteItem(ctx, in, optFns...)
	m.record("DeleteItem", in.ReturnConsumedCapacity, 0, m.after(ctx, w, err == nil))
	return out, err
}

func (m *meter) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	var ws []pendingWrite
	for _, reqs := range in.RequestItems {
		for _, r := range reqs {
			switch {
			case r.PutRequest != nil:
				ws = append(ws, m.before(ctx, types.TransactWriteItem{Put: &types.Put{Item: r.PutRequest.Item}}))
			case r.DeleteRequest != nil:
				ws = append(ws, m.before(ctx, types.TransactWriteItem{Delete: &types.Delete{Key: r.DeleteRequest.Key}}))
			}
		}
	}
	out, err := m.tableAPI.BatchWriteItem(ctx, in, optFns...)
	wcu := 0.0
	for _, w := range ws {
		wcu += m.after(ctx, w, err == nil)
	}
	m.record("BatchWriteItem", in.ReturnConsumedCapacity, 0, wcu)
	return out, err
}

// pendingWrite is one write being metered: its key, the item before it
// and, for a put, the item it writes.
type pendingWrite struct {
	key      map[string]types.AttributeValue
	old, put map[string]types.AttributeValue
}

func (m *meter) before(ctx context.Context, w types.TransactWriteItem) pendingWrite {
	var p pendingWrite
	switch {
	case w.Put != nil:
		p.put = w.Put.Item
		p.key = map[string]types.AttributeValue{attrPK: w.Put.Item[attrPK], attrSK: w.Put.Item[attrSK]}
	case w.Update != nil:
		p.key = w.Update.Key
	case w.Delete != nil:
		p.key = w.Delete.Key
	case w.ConditionCheck != nil:
		p.key = w.ConditionCheck.Key
	}
	if m.active() {
		p.old = m.current(ctx, p.key)
	}
	return p
}

// after returns the write units of w: the larger of the item before and
// after, per KB, and the same for gsi1 when either version is in it. A
// write whose condition failed is billed as if it had rewritten the item.
func (m *meter) after(ctx context.Context, w pendingWrite, done bool) float64 {
	if !m.active() {
		return 0
	}
	next := w.put
	if done {
		next = m.current(ctx, w.key)
	}
	if !done && next == nil {
		next = w.old
	}
	units := writeUnits(max(itemSize(w.old), itemSize(next)))
	_, oldIn := w.old[attrGSI1PK]
	_, newIn := next[attrGSI1PK]
	switch {
	case oldIn && newIn && sameGSIKey(w.old, next):
		units += writeUnits(max(itemSize(w.old), itemSize(next)))
	case oldIn && newIn:
		units += writeUnits(itemSize(w.old)) + writeUnits(itemSize(next))
	case oldIn:
		units += writeUnits(itemSize(w.old))
	case newIn:
		units += writeUnits(itemSize(next))
	}
	return units
}

func sameGSIKey(a, b map[string]types.AttributeValue) bool {
	s := func(item map[string]types.AttributeValue, n string) string {
		if v, ok := item[n].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return s(a, attrGSI1PK) == s(b, attrGSI1PK) && s(a, attrGSI1SK) == s(b, attrGSI1SK)
}

// readUnits bills size bytes read: 4 KB per unit, at least one, half when
// eventually consistent.
func readUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

// writeUnits bills size bytes written: 1 KB per unit, at least one.
func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

// itemSize is an item's size as DynamoDB counts it: names plus values.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is one byte per two significant digits, plus one.
func numberSize(s string) int {
	digits := strings.Trim(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s), "0")
	return (len(digits)+1)/2 + 1
}
