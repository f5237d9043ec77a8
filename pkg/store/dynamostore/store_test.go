package dynamostore

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// failingTransactions answers the first transactions with err, then lets
// them through.
type failingTransactions struct {
	tableAPI
	mu    sync.Mutex
	errs  []error
	calls int
}

func (f *failingTransactions) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	f.calls++
	var err error
	if len(f.errs) > 0 {
		err, f.errs = f.errs[0], f.errs[1:]
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.tableAPI.TransactWriteItems(ctx, in, optFns...)
}

func cancelled(codes ...string) error {
	reasons := make([]types.CancellationReason, len(codes))
	for i, c := range codes {
		reasons[i] = types.CancellationReason{Code: aws.String(c)}
	}
	return &types.TransactionCanceledException{Message: aws.String("cancelled"), CancellationReasons: reasons}
}

func TestWriteMapsCancellations(t *testing.T) {
	api, table := newMinidyn(t)
	twoPuts := func() []types.TransactWriteItem {
		a, _ := put(withKey(key("A", "A"), nil), cond(notExists(attrPK)))
		b, _ := put(withKey(key("B", "B"), nil), cond(notExists(attrPK)))
		return []types.TransactWriteItem{a, b}
	}
	throttled := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	cases := []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"condition of the second write", cancelled("None", "ConditionalCheckFailed"), func(t *testing.T, err error) {
			if _, ok := failedAt(err, 1); !ok {
				t.Fatalf("got %v, want a failed condition at write 1", err)
			}
			if _, ok := failedAt(err, 0); ok {
				t.Fatalf("got %v, which also claims write 0", err)
			}
		}},
		{"conflict with another transaction", cancelled("TransactionConflict", "None"), func(t *testing.T, err error) {
			if !errors.Is(err, errRace) || !retryable(err) {
				t.Fatalf("got %v, want a retryable race", err)
			}
		}},
		{"transaction conflict exception", &types.TransactionConflictException{Message: aws.String("busy")}, func(t *testing.T, err error) {
			if !errors.Is(err, errRace) {
				t.Fatalf("got %v, want a race", err)
			}
		}},
		{"another cancellation reason", cancelled("None", "ThrottlingError"), func(t *testing.T, err error) {
			var tce *types.TransactionCanceledException
			if retryable(err) || !errors.As(err, &tce) {
				t.Fatalf("got %v, want the cancellation itself, not retryable", err)
			}
		}},
		{"any other error", throttled, func(t *testing.T, err error) {
			if retryable(err) || !errors.Is(err, throttled) {
				t.Fatalf("got %v, want the error itself", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(&failingTransactions{tableAPI: api, errs: []error{tc.err}}, table)
			tc.check(t, s.write(t.Context(), twoPuts()...))
		})
	}

	// The real thing, end to end: a condition failing on the emulator.
	s := New(api, table)
	if err := s.write(t.Context(), twoPuts()...); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, ok := failedAt(s.write(t.Context(), twoPuts()...), 0); !ok {
		t.Fatal("second write: want the condition of write 0 to fail")
	}
}

// TestJoinRoomRetriesConflicts: a transaction that collides with another
// one is tried again, and the room ends up as if it had not collided.
func TestJoinRoomRetriesConflicts(t *testing.T) {
	api, table := newMinidyn(t)
	f := &failingTransactions{tableAPI: api, errs: []error{
		cancelled("TransactionConflict", "None"),
		&types.TransactionConflictException{Message: aws.String("busy")},
	}}
	s := New(f, table)
	seat := chat.Seat{UserID: "u1", Username: "alice"}
	r, changed, err := s.JoinRoom(t.Context(), "lobby", seat)
	if err != nil || !changed {
		t.Fatalf("JoinRoom: changed %t, err %v; want a change", changed, err)
	}
	if f.calls != 3 {
		t.Fatalf("JoinRoom made %d transactions, want 3 (two collisions, then success)", f.calls)
	}
	if r.Version != 1 || r.Seats[0] != seat {
		t.Fatalf("JoinRoom: got %+v, want alice on seat 0 at version 1", r)
	}
	rooms, err := s.RoomsOf(t.Context(), "u1")
	if err != nil || len(rooms) != 1 || rooms[0] != "lobby" {
		t.Fatalf("RoomsOf: %q, %v; want [lobby]", rooms, err)
	}
}

// TestContentionEnds: an optimistic write that never wins gives up with
// ErrConflict instead of looping.
func TestContentionEnds(t *testing.T) {
	api, table := newMinidyn(t)
	errs := make([]error, maxAttempts)
	for i := range errs {
		errs[i] = cancelled("TransactionConflict", "None")
	}
	f := &failingTransactions{tableAPI: api, errs: errs}
	s := New(f, table)
	waits := 0
	s.backoff = func(context.Context, int) error { waits++; return nil }
	_, _, err := s.JoinRoom(t.Context(), "lobby", chat.Seat{UserID: "u1"})
	if !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("JoinRoom against endless conflicts: got %v, want ErrConflict", err)
	}
	if f.calls != maxAttempts || waits != maxAttempts {
		t.Fatalf("JoinRoom made %d transactions and waited %d times, want %d of each", f.calls, waits, maxAttempts)
	}
}

// TestObserverSeesEveryRequest: the observer is told about every request,
// with its operation, and every request asks for its consumed capacity.
func TestObserverSeesEveryRequest(t *testing.T) {
	api, table := newMinidyn(t)
	m := newMeter(api, table)
	var mu sync.Mutex
	seen := map[string]int{}
	s := New(m, table, WithObserver(func(_ context.Context, r Request) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Operation]++
	}))
	ctx := t.Context()
	m.start()
	u := chat.User{UserID: "u1", Username: "alice"}
	steps := []error{
		s.CreateUser(ctx, u),
		s.CreateUser(ctx, u),
		s.PutConnection(ctx, chat.Connection{ConnID: "c1", UserID: "u1"}),
	}
	_, err := s.UserByName(ctx, "alice")
	steps = append(steps, err)
	_, err = s.UsersByID(ctx, []string{"u1", "u2"})
	steps = append(steps, err)
	_, err = s.ConnectionsOf(ctx, "u1", "u2", "u3")
	steps = append(steps, err)
	_, err = s.Allow(ctx, "k", 1, 1, u.CreatedAt)
	steps = append(steps, err)
	_, err = s.DeleteConnection(ctx, "c1")
	steps = append(steps, err)
	got := m.stop()
	for i, err := range steps {
		if err != nil && !(i == 1 && errors.Is(err, chat.ErrConflict)) {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got.untracked != 0 {
		t.Fatalf("%d requests did not ask for ReturnConsumedCapacity=TOTAL", got.untracked)
	}
	if observed := (usage{ops: seen}).opsString(); observed != got.opsString() {
		t.Fatalf("the observer saw %s, the client got %s", observed, got.opsString())
	}
}
