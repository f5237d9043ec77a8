package dynamostore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// roundTrip is how long every DynamoDB request and every push takes on
// the critical-path stack: about a request inside one AWS region. The
// tests that count round trips run it in a synctest bubble, where the
// delays are virtual: which requests overlap does not depend on how busy
// the machine is.
const roundTrip = 10 * time.Millisecond

// span is one request, from its start to its answer.
type span struct {
	op         string
	start, end time.Time
}

// slowAPI delays every request by d and records it.
type slowAPI struct {
	API
	d     time.Duration
	mu    sync.Mutex
	spans []span
}

func (s *slowAPI) record(op string, start time.Time) {
	s.mu.Lock()
	s.spans = append(s.spans, span{op, start, time.Now()})
	s.mu.Unlock()
}

func (s *slowAPI) take() []span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.spans
	s.spans = nil
	return out
}

func slow[I, O any](s *slowAPI, op string, ctx context.Context, in I, opts []func(*dynamodb.Options), call func(context.Context, I, ...func(*dynamodb.Options)) (O, error)) (O, error) {
	start := time.Now()
	time.Sleep(s.d)
	out, err := call(ctx, in, opts...)
	s.record(op, start)
	return out, err
}

func (s *slowAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return slow(s, "GetItem", ctx, in, o, s.API.GetItem)
}
func (s *slowAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return slow(s, "PutItem", ctx, in, o, s.API.PutItem)
}
func (s *slowAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return slow(s, "UpdateItem", ctx, in, o, s.API.UpdateItem)
}
func (s *slowAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return slow(s, "DeleteItem", ctx, in, o, s.API.DeleteItem)
}
func (s *slowAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return slow(s, "Query", ctx, in, o, s.API.Query)
}
func (s *slowAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return slow(s, "BatchGetItem", ctx, in, o, s.API.BatchGetItem)
}
func (s *slowAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return slow(s, "BatchWriteItem", ctx, in, o, s.API.BatchWriteItem)
}

// slowPusher delays every push by d, records it and notes when the last
// one ended.
type slowPusher struct {
	*testenv.Pusher
	d     time.Duration
	mu    sync.Mutex
	last  time.Time
	spans []span
}

func (p *slowPusher) Push(ctx context.Context, connID string, data []byte) error {
	start := time.Now()
	time.Sleep(p.d)
	err := p.Pusher.Push(ctx, connID, data)
	p.mu.Lock()
	p.last = time.Now()
	p.spans = append(p.spans, span{"push", start, p.last})
	p.mu.Unlock()
	return err
}

func (p *slowPusher) takeSpans() []span {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.spans
	p.spans = nil
	return out
}

// depth is the number of requests one after another among spans (those
// that start before an earlier one's answer run beside it): the critical
// path in round trips.
func depth(spans []span) int {
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	level := make([]int, len(spans))
	most := 0
	for i, s := range spans {
		level[i] = 1
		for j := range i {
			if !spans[j].end.After(s.start) && level[j]+1 > level[i] {
				level[i] = level[j] + 1
			}
		}
		most = max(most, level[i])
	}
	return most
}

// criticalPath is the stack a measurement runs on: the service over a
// table whose every request, and every push, takes roundTrip.
type criticalPath struct {
	svc   *chat.Service
	api   *slowAPI
	push  *slowPusher
	users []chat.Identity
	// held is the newest seq of conn-0's conversation with users[1], as
	// a client holds it from its acks (lastSeq).
	held *int64
}

func newCriticalPath(t testing.TB, trip time.Duration) *criticalPath {
	inner, table := newMinidyn(t)
	api := &slowAPI{API: inner, d: trip}
	push := &slowPusher{Pusher: testenv.NewPusher(), d: trip}
	svc, err := chat.NewService(chat.Config{
		Store: New(api, table), Limiter: NewLimiter(api, table), Pusher: push, Encoder: edge.Wire{},
		Limits: chat.Limits{SendRate: 1e6, SendBurst: 1e6},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &criticalPath{svc: svc, api: api, push: push}
	ctx := context.Background()
	store := New(inner, table)
	for i := range chat.SeatCount {
		id := chat.Identity{UserID: fmt.Sprintf("0193a000-0000-7000-8000-%012d", i+1), Username: fmt.Sprintf("u%d", i)}
		if err := store.CreateUser(ctx, chat.User{UserID: id.UserID, Username: id.Username, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		call := chat.Call{ConnID: fmt.Sprintf("conn-%d", i)}
		if err := svc.Connect(ctx, call, &id); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.JoinRoom(ctx, call, "lobby"); err != nil {
			t.Fatal(err)
		}
		c.users = append(c.users, id)
	}
	// A first message opens the conversation (once, not per message).
	if _, err := svc.SendPrivate(ctx, chat.Sender{ConnID: "conn-0"}, chat.PrivateSend{To: c.users[1].UserID, Content: "first"}, nil); err != nil {
		t.Fatal(err)
	}
	api.take()
	return c
}

// measure sends one message and returns the DynamoDB round trips before
// it was stored, the time until the sender has the ack and until the last
// delivery.
func (c *criticalPath) measure(t testing.TB, send func(chat.Acked) error) (trips int, toAck, toLast time.Duration) {
	c.api.take()
	start := time.Now()
	var stored, acked time.Time
	err := send(func(chat.Receipt) {
		// As the edge does: the ack is pushed before the fan-out starts.
		stored = time.Now()
		_ = c.push.Push(context.Background(), "conn-0", []byte(`{"type":"ack"}`))
		acked = time.Now()
	})
	if err != nil {
		t.Fatal(err)
	}
	spans := c.api.take()
	var before []span
	for _, s := range spans {
		if !s.end.After(stored) {
			before = append(before, s)
		}
	}
	c.push.mu.Lock()
	last := c.push.last
	c.push.mu.Unlock()
	return depth(before), acked.Sub(start), last.Sub(start)
}

func (c *criticalPath) private(n int) func(chat.Acked) error {
	return func(a chat.Acked) error {
		// As an SDK sends: on a connection its authorizer named, with the
		// newest seq it holds.
		m, err := c.svc.SendPrivate(context.Background(), chat.Sender{ConnID: "conn-0", Identity: &c.users[0]},
			chat.PrivateSend{To: c.users[1].UserID, Content: "hi", ClientID: fmt.Sprint("p", n), LastSeq: c.held}, a)
		if err == nil {
			c.held = &m.Seq
		}
		return err
	}
}

func (c *criticalPath) group(n int) func(chat.Acked) error {
	return func(a chat.Acked) error {
		_, err := c.svc.SendGroup(context.Background(), chat.Call{ConnID: "conn-0"},
			chat.GroupSend{Room: "lobby", Msg: "hi", ClientID: fmt.Sprint("g", n)}, a)
		return err
	}
}

// TestCriticalPath holds a send to at most 3 DynamoDB round trips before
// its ack, the rest beside them or after: counted from which requests
// overlap on a virtual clock, not from how long anything took.
func TestCriticalPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCriticalPath(t, roundTrip)
		for name, send := range map[string]func(int) func(chat.Acked) error{"private-message": c.private, "group-message (room of 8)": c.group} {
			trips, toAck, toLast := c.measure(t, send(1))
			t.Logf("%s: %d sequential DynamoDB round trips before the ack (%v to the ack, %v to the last delivery at %v a round trip)", name, trips, toAck, toLast, roundTrip)
			if trips < 1 || trips > 3 {
				t.Errorf("%s: %d DynamoDB round trips one after another before the ack, want 1 to 3", name, trips)
			}
			// On the virtual clock the times are exact: the ack waits for
			// the sequential requests and its own push, and the deliveries
			// all go out at once after it.
			if want := time.Duration(trips+1) * roundTrip; toAck != want {
				t.Errorf("%s: the ack after %v, want %v (%d round trips and its push)", name, toAck, want, trips)
			}
			if want := toAck + roundTrip; toLast != want {
				t.Errorf("%s: the last delivery after %v, want %v (one push after the ack)", name, toLast, want)
			}
		}
	})
}

// BenchmarkCriticalPath reports, with every DynamoDB request and push
// taking 10 ms, the time to a send's ack and to its last delivery.
func BenchmarkCriticalPath(b *testing.B) {
	c := newCriticalPath(b, roundTrip)
	for name, send := range map[string]func(int) func(chat.Acked) error{"private": c.private, "group8": c.group} {
		b.Run(name, func(b *testing.B) {
			var ack, last time.Duration
			trips := 0
			for i := 0; b.Loop(); i++ {
				tr, a, l := c.measure(b, send(i+2))
				ack, last, trips = ack+a, last+l, max(trips, tr)
			}
			b.ReportMetric(float64(ack.Milliseconds())/float64(b.N), "ms-to-ack")
			b.ReportMetric(float64(last.Milliseconds())/float64(b.N), "ms-to-last-delivery")
			b.ReportMetric(float64(trips), "round-trips-before-ack")
		})
	}
}
