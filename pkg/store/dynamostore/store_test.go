package dynamostore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// TestConditionFailureReturnsItem: a failed condition comes back as a
// conditionError holding the item that beat it.
func TestConditionFailureReturnsItem(t *testing.T) {
	api, table := newMinidyn(t)
	s := New(api, table)
	w, _ := put(withKey(key("A", "A"), map[string]types.AttributeValue{"v": numAV(1)}), cond(notExists(attrPK)))
	if err := s.write(t.Context(), w); err != nil {
		t.Fatalf("first write: %v", err)
	}
	w, _ = put(withKey(key("A", "A"), map[string]types.AttributeValue{"v": numAV(2)}), cond(notExists(attrPK)))
	old, failed := failedAt(s.write(t.Context(), w), 0)
	if !failed || !retryable(&conditionError{}) {
		t.Fatal("second write: want its condition to fail")
	}
	if v, ok := old["v"].(*types.AttributeValueMemberN); ok && v.Value != "1" {
		t.Fatalf("the item that won: %v, want v=1", old)
	}
}

// racingPuts runs race once, just before the first PutItem of a room's
// record, as another writer would.
type racingPuts struct {
	tableAPI
	once sync.Once
	race func()
	puts int
}

func (r *racingPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if sk, ok := in.Item[attrSK].(*types.AttributeValueMemberS); ok && sk.Value == skMeta {
		r.puts++
		r.once.Do(r.race)
	}
	return r.tableAPI.PutItem(ctx, in, optFns...)
}

func createTestUser(t *testing.T, s *DynamoStore, name string) chat.Identity {
	t.Helper()
	u := chat.User{UserID: "0193a000-0000-7000-8000-" + strings.Repeat("0", 12-len(name)) + name, Username: name, CreatedAt: time.Now()}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return chat.Identity{UserID: u.UserID, Username: u.Username}
}

// TestJoinRoomRetriesLostRaces: a join whose read of the room went stale
// before its write loses the condition, tries again on the room that won,
// and both joiners are seated.
func TestJoinRoomRetriesLostRaces(t *testing.T) {
	api, table := newMinidyn(t)
	plain := New(api, table)
	alice, bob := createTestUser(t, plain, "a"), createTestUser(t, plain, "b")
	r := &racingPuts{tableAPI: api}
	s := New(r, table)
	s.backoff = func(context.Context, int) error { return nil }
	r.race = func() {
		if _, _, err := plain.JoinRoom(t.Context(), "lobby", bob); err != nil {
			t.Errorf("the racing join: %v", err)
		}
	}
	room, changed, err := s.JoinRoom(t.Context(), "lobby", alice)
	if err != nil || !changed {
		t.Fatalf("JoinRoom: changed %t, err %v", changed, err)
	}
	if room.SeatOf(bob.UserID) != 0 || room.SeatOf(alice.UserID) != 1 || r.puts != 2 {
		t.Fatalf("after a lost race: %+v after %d puts; want bob on 0, alice on 1, two puts", room, r.puts)
	}
}

// alwaysLosing fails every conditional put of a room's record.
type alwaysLosing struct {
	tableAPI
	puts int
}

func (a *alwaysLosing) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if sk, ok := in.Item[attrSK].(*types.AttributeValueMemberS); ok && sk.Value == skMeta {
		a.puts++
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("lost")}
	}
	return a.tableAPI.PutItem(ctx, in, optFns...)
}

// TestContentionEnds: an optimistic write that never wins gives up with
// ErrConflict instead of looping.
func TestContentionEnds(t *testing.T) {
	api, table := newMinidyn(t)
	alice := createTestUser(t, New(api, table), "a")
	f := &alwaysLosing{tableAPI: api}
	s := New(f, table)
	s.backoff = func(context.Context, int) error { return nil }
	_, _, err := s.JoinRoom(t.Context(), "lobby", alice)
	if !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("JoinRoom against endless losses: got %v, want ErrConflict", err)
	}
	if f.puts != maxAttempts {
		t.Fatalf("JoinRoom made %d puts, want %d", f.puts, maxAttempts)
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
	l := NewLimiter(m, table, WithObserver(func(_ context.Context, r Request) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Operation]++
	}))
	ctx := t.Context()
	m.start()
	alice, bob, at := twoUsers(t, s)
	if _, _, _, err := s.PrivateContext(ctx, chat.Sender{ConnID: "c1"}, bob.UserID, -1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "x", At: at, ClientID: "1"}, chat.Tail{}, allowAll); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Allow(ctx, "k", 1, 1, at); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Disconnect(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	got := m.stop()
	if got.untracked != 0 {
		t.Fatalf("%d requests did not ask for ReturnConsumedCapacity=TOTAL", got.untracked)
	}
	if observed := (usage{ops: seen}).opsString(); observed != got.opsString() {
		t.Fatalf("the observer saw %s, the client got %s", observed, got.opsString())
	}
}

func allowAll(context.Context) error { return nil }

// TestSiblingRefreshOfAClosedConnection: a refresh that reaches a
// connection already deleted (its $disconnect ran between the sibling's
// profile update and its refresh) leaves an item that expires within
// aheadTTL; one that arrives ahead of its connection's own write is
// completed by it, with the connection's TTL.
func TestSiblingRefreshOfAClosedConnection(t *testing.T) {
	api, table := newMinidyn(t)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := New(api, table, WithClock(func() time.Time { return now }))
	ctx := t.Context()
	id := chat.Identity{UserID: "0193a000-0000-7000-8000-000000000001", Username: "ann"}
	if err := s.CreateUser(ctx, chat.User{UserID: id.UserID, Username: id.Username, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	expires := now.Add(2 * time.Hour)
	ttlOf := func(connID string) (int64, bool) {
		out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: connKey(connID)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Item == nil {
			return 0, false
		}
		n, ok := out.Item[attrTTL].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("item %v has no TTL", out.Item)
		}
		v, _ := strconv.ParseInt(n.Value, 10, 64)
		return v, true
	}
	for _, connID := range []string{"gone", "ahead"} {
		for _, job := range s.refreshSiblings(ctx, []chat.Target{{ConnID: connID, ExpiresAt: expires}}, 5, true, "") {
			if err := job(); err != nil {
				t.Fatal(err)
			}
		}
		if ttl, ok := ttlOf(connID); !ok || ttl > now.Add(aheadTTL).Unix() {
			t.Fatalf("%s: the item a refresh created has TTL %d (found %v), want at most %d", connID, ttl, ok, now.Add(aheadTTL).Unix())
		}
	}
	c := chat.Connection{ConnID: "ahead", UserID: id.UserID, Username: id.Username, ConnectedAt: now, ExpiresAt: expires}
	if _, err := s.Connect(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := ttlOf("ahead"); ttl != expires.Unix() {
		t.Errorf("the connection's own write left TTL %d, want its expiry %d", ttl, expires.Unix())
	}
	got, err := s.GetConnection(ctx, "ahead")
	if err != nil || got.UserID != id.UserID {
		t.Errorf("the completed connection reads %+v, %v", got, err)
	}
}

// twoUsers creates alice and bob, alice with connection c1, and returns
// them and when c1 connected.
func twoUsers(t *testing.T, s *DynamoStore) (alice, bob chat.Identity, at time.Time) {
	t.Helper()
	alice, bob, at = createTestUser(t, s, "a"), createTestUser(t, s, "b"), time.Now()
	c := chat.Connection{ConnID: "c1", UserID: alice.UserID, Username: alice.Username, ConnectedAt: at, ExpiresAt: at.Add(time.Hour)}
	if _, err := s.Connect(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return alice, bob, at
}

// staleAPI answers eventually consistent BatchGetItems as a replica that
// has seen none of the writes yet, or (onlyMessages) none of the messages.
type staleAPI struct {
	tableAPI
	onlyMessages      bool
	stale, consistent int
}

func (s *staleAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for _, ka := range in.RequestItems {
		if aws.ToBool(ka.ConsistentRead) {
			s.consistent++
			return s.tableAPI.BatchGetItem(ctx, in, optFns...)
		}
	}
	s.stale++
	out, err := s.tableAPI.BatchGetItem(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	for table, items := range out.Responses {
		out.Responses[table] = slices.DeleteFunc(items, func(item map[string]types.AttributeValue) bool {
			return !s.onlyMessages || strings.HasPrefix(item[attrSK].(*types.AttributeValueMemberS).Value, prefixMsg)
		})
	}
	return out, nil
}

// TestPrivateContextStaleRead: the send's eventually consistent read that
// finds neither sender nor recipient reads again consistently, and an end
// of the conversation it did not see, or saw late, costs only the saving:
// the message still follows the newest one.
func TestPrivateContextStaleRead(t *testing.T) {
	inner, table := newMinidyn(t)
	api := &staleAPI{tableAPI: inner}
	s := New(api, table)
	ctx := t.Context()
	alice, bob, at := twoUsers(t, s)
	first, _, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "1", At: at, ClientID: "1"}, chat.Tail{}, allowAll)
	if err != nil {
		t.Fatal(err)
	}
	send := func(tail chat.Tail, id string, wantSeq int64, why string) {
		t.Helper()
		m, created, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: id, At: at, ClientID: id}, tail, allowAll)
		if err != nil || !created || m.Seq != wantSeq {
			t.Fatalf("%s: seq %d, created %v, %v; want seq %d", why, m.Seq, created, err, wantSeq)
		}
	}
	sender, peer, tail, err := s.PrivateContext(ctx, chat.Sender{ConnID: "c1", Identity: &alice}, bob.UserID, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if api.stale != 1 || api.consistent != 1 {
		t.Fatalf("%d eventually consistent and %d consistent reads, want one of each", api.stale, api.consistent)
	}
	if sender.UserID != alice.UserID || peer.User.UserID != bob.UserID {
		t.Fatalf("sender %q, recipient %q", sender.UserID, peer.User.UserID)
	}
	send(tail, "2", 2, "the send after a consistent read")

	// A replica that has the sender and recipient but not the messages:
	// no second read; the store reads the newest message itself.
	api.onlyMessages, api.stale, api.consistent = true, 0, 0
	_, _, tail, err = s.PrivateContext(ctx, chat.Sender{ConnID: "c1", Identity: &alice}, bob.UserID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if api.stale != 1 || api.consistent != 0 {
		t.Fatalf("%d eventually consistent and %d consistent reads, want the one stale read", api.stale, api.consistent)
	}
	send(tail, "3", 3, "the send after a tail not seen")

	// A replica that saw the message at the client's seq but not the two
	// after it: the put loses to each and moves on.
	item, err := s.itemAt(ctx, privateScope(alice.UserID, bob.UserID), first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	old, err := decodeMessageAttrs(item)
	if err != nil {
		t.Fatal(err)
	}
	send(chat.Tail{Read: &tailRead{pk: privateScope(alice.UserID, bob.UserID).pk, seq: first.Seq, prev: &old}}, "4", 4, "the send after a stale end")
}

// gateAPI holds the first UpdateItem of a room record once armed, until
// released: a $disconnect's seat update that is slow (throttled, retried).
type gateAPI struct {
	tableAPI
	armed         atomic.Bool
	held, release chan struct{}
}

func (g *gateAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if pk, ok := in.Key[attrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, prefixRoom) && g.armed.CompareAndSwap(true, false) {
		close(g.held)
		<-g.release
	}
	return g.tableAPI.UpdateItem(ctx, in, optFns...)
}

// TestRejoinWhileLeaving: a user's last connection closes and, while its
// $disconnect has cleared the profile but not yet freed the seat, a new
// connection of the user joins the room again. The seat must stay theirs,
// and go with the new connection's own $disconnect.
func TestRejoinWhileLeaving(t *testing.T) {
	inner, table := newMinidyn(t)
	api := &gateAPI{tableAPI: inner, held: make(chan struct{}), release: make(chan struct{})}
	s := New(api, table)
	ctx := t.Context()
	alice, _, at := twoUsers(t, s)
	if _, _, err := s.JoinRoom(ctx, "lobby", alice); err != nil {
		t.Fatal(err)
	}
	api.armed.Store(true)
	left := make(chan []chat.Left, 1)
	go func() {
		_, _, l, err := s.Disconnect(ctx, "c1")
		if err != nil {
			t.Error(err)
		}
		left <- l
	}()
	<-api.held
	c2 := chat.Connection{ConnID: "c2", UserID: alice.UserID, Username: alice.Username, ConnectedAt: at, ExpiresAt: at.Add(time.Hour)}
	if _, err := s.Connect(ctx, c2); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.JoinRoom(ctx, "lobby", alice)
	if err != nil || r.SeatOf(alice.UserID) < 0 {
		t.Fatalf("the join again: %+v, %v; want alice seated", r, err)
	}
	close(api.release)
	if l := <-left; len(l) != 0 {
		t.Fatalf("the slow $disconnect freed %+v: the seat was taken again meanwhile", l)
	}
	r, err = s.GetRoom(ctx, "lobby")
	if err != nil || r.SeatOf(alice.UserID) < 0 {
		t.Fatalf("after the first $disconnect: %+v, %v; want alice still seated", r, err)
	}
	if _, _, l, err := s.Disconnect(ctx, "c2"); err != nil || len(l) != 1 {
		t.Fatalf("the second $disconnect left %+v, %v; want the seat freed", l, err)
	}
	if r, err = s.GetRoom(ctx, "lobby"); err != nil || r.SeatOf(alice.UserID) >= 0 {
		t.Fatalf("after the last $disconnect: %+v, %v; want no seat for alice", r, err)
	}
}
