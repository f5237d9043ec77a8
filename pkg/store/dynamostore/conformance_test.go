package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/limitertest"
	"github.com/minichatbar/minichat/pkg/chat/storetest"
	"github.com/minichatbar/minichat/pkg/testenv/awsproxy"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

func TestConformanceMinidyn(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chat.Store {
		api, table := newMinidyn(t)
		return New(api, table)
	})
	limitertest.Run(t, func(t *testing.T) chat.Limiter {
		api, table := newMinidyn(t)
		return NewLimiter(api, table)
	})
}

// TestMoto runs everything that needs moto_server under one server: the
// conformance suite over the wire, then the request counts.
func TestMoto(t *testing.T) {
	client := motoClient(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) chat.Store {
			return New(client, createTable(t, client))
		})
		limitertest.Run(t, func(t *testing.T) chat.Limiter {
			return NewLimiter(client, createTable(t, client))
		})
	})
	t.Run("RequestCounts", func(t *testing.T) {
		scales := [2]int{fewOthers, *motoOthers}
		runs := requestCounts(t, func(t testing.TB) (tableAPI, string) { return client, createTable(t, client) }, scales)
		table := countsTable(runs, scales)
		t.Logf("measured on moto:\n%s", table)
		if *updateDoc {
			writeCounts(t, table)
		}
	})
}

// motoClient starts moto_server and returns a DynamoDB client for it.
func motoClient(t *testing.T) *dynamodb.Client {
	endpoint := moto.Start(t)
	return dynamodb.NewFromConfig(moto.Config(endpoint))
}

// TestLostAnswers loses the answer of every other write on its way back
// from moto (the write took effect; the SDK retries it): a message, its
// claim and a seat are each stored once, by the send that made them, and
// the send is told so.
func TestLostAnswers(t *testing.T) {
	endpoint := moto.Start(t)
	direct := dynamodb.NewFromConfig(moto.Config(endpoint))
	table := createTable(t, direct)
	proxy := awsproxy.Start(t, endpoint)
	var writes atomic.Int64
	proxy.SetFaults(awsproxy.Faults{Rate: 1, Kinds: []awsproxy.Fault{awsproxy.Lost}, Match: func(c awsproxy.Call) bool {
		switch c.Action {
		case "dynamodb:PutItem", "dynamodb:UpdateItem":
			return writes.Add(1)%2 == 1
		}
		return false
	}})
	s := New(dynamodb.NewFromConfig(moto.Config(proxy.URL)), table)
	ctx := t.Context()
	at := time.Now().UTC().Truncate(time.Millisecond)
	alice := chat.User{UserID: "0193a000-0000-7000-8000-00000000000a", Username: "alice", CreatedAt: at}
	bob := chat.User{UserID: "0193a000-0000-7000-8000-00000000000b", Username: "bob", CreatedAt: at}
	for _, u := range []chat.User{alice, bob} {
		if err := New(direct, table).CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		m := chat.Message{Kind: chat.KindPrivate, From: alice.UserID, FromName: "alice", To: bob.UserID, Content: fmt.Sprint("hi ", i), At: at, ClientID: fmt.Sprint("c", i)}
		stored, created, err := s.SavePrivate(ctx, m, chat.Tail{}, func(context.Context) error { return nil })
		if err != nil || !created || stored.Seq != int64(i+1) {
			t.Fatalf("send %d with lost answers: seq %d, created %v, %v", i, stored.Seq, created, err)
		}
	}
	ms, err := New(direct, table).ListMessages(ctx, alice.UserID, bob.UserID, chat.Page{Limit: 10})
	if err != nil || len(ms) != 3 {
		t.Fatalf("history: %d messages, %v; want 3", len(ms), err)
	}
	if proxy.Injected()[awsproxy.Lost] == 0 {
		t.Fatal("no answer was lost")
	}
}

// TestResendTakesTheClaimOver: a first send that died after its claim (the
// claim marked finished, no message) leaves the id to its resend, even to
// another recipient; the claim then points where that resend stored, so a
// second resend finds it there instead of storing it again.
func TestResendTakesTheClaimOver(t *testing.T) {
	api, table := newMinidyn(t)
	s := New(api, table)
	ctx := t.Context()
	at := time.Now().UTC().Truncate(time.Millisecond)
	users := map[string]chat.User{}
	for _, n := range []string{"alice", "bob", "carol"} {
		u := chat.User{UserID: fmt.Sprintf("0193a000-0000-7000-8000-%012d", len(users)+1), Username: n, CreatedAt: at}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users[n] = u
	}
	alice, bob, carol := users["alice"], users["bob"], users["carol"]
	first := chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "lost", At: at, ClientID: "c1"}
	claimed, _, nonce, err := s.claim(ctx, privateScope(alice.UserID, bob.UserID), first)
	if err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	s.finishClaim(ctx, first, nonce)
	allow := func(context.Context) error { return nil }
	again := first
	again.To, again.Content = carol.UserID, "to carol"
	stored, created, err := s.SavePrivate(ctx, again, chat.Tail{}, allow)
	if err != nil || !created {
		t.Fatalf("the resend after a dead first send: created %v, %v", created, err)
	}
	// Another message after it, so that the newest is not the resend's.
	reply := chat.Message{Kind: chat.KindPrivate, From: carol.UserID, To: alice.UserID, Content: "hi", At: at, ClientID: "r1"}
	if _, _, err := s.SavePrivate(ctx, reply, chat.Tail{}, allow); err != nil {
		t.Fatal(err)
	}
	got, created, err := s.SavePrivate(ctx, again, chat.Tail{}, allow)
	if err != nil || created || got.MessageID != stored.MessageID {
		t.Fatalf("a second resend: %+v created %v, %v; want %s back", got, created, err, stored.MessageID)
	}
	for peer, want := range map[string]int{bob.UserID: 0, carol.UserID: 2} {
		if ms, err := s.ListMessages(ctx, alice.UserID, peer, chat.Page{Limit: 10}); err != nil || len(ms) != want {
			t.Fatalf("conversation with %s: %d messages, %v; want %d", peer, len(ms), err, want)
		}
	}
}

// TestResendClaims: a resend whose first message lies further back than
// the search is refused as bad input and stores nothing; a claim taken
// over by a resend is neither given back nor marked by the send that lost
// it; a takeover that loses to another resend is told to retry.
func TestResendClaims(t *testing.T) {
	api, table := newMinidyn(t)
	s := New(api, table)
	ctx := t.Context()
	at := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	for i := range 2 {
		u := chat.User{UserID: fmt.Sprintf("0193a000-0000-7000-8000-%012d", i+1), Username: fmt.Sprint("u", i), CreatedAt: at}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.UserID)
	}
	allow := func(context.Context) error { return nil }
	send := func(id string) (chat.Message, bool, error) {
		return s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: ids[0], To: ids[1], Content: id, At: at, ClientID: id}, chat.Tail{}, allow)
	}

	t.Run("too old", func(t *testing.T) {
		if _, _, err := send("old"); err != nil {
			t.Fatal(err)
		}
		for i := range maxResendPages * maxPage {
			if _, _, err := send(fmt.Sprint("later", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, created, err := send("old"); !errors.Is(err, errIDReused) || !errors.Is(err, chat.ErrBadRequest) || created {
			t.Fatalf("a resend past the search: created %v, %v; want bad-request", created, err)
		}
		if ms, err := s.ListMessages(ctx, ids[0], ids[1], chat.Page{Limit: 100}); err != nil || ms[0].Content != fmt.Sprint("later", maxResendPages*maxPage-1) {
			t.Fatalf("the newest message after the refused resend: %v", err)
		}
	})

	t.Run("taken over", func(t *testing.T) {
		m := chat.Message{Kind: chat.KindPrivate, From: ids[0], To: ids[1], ClientID: "contested", At: at}
		sc := privateScope(ids[0], ids[1])
		_, _, first, err := s.claim(ctx, sc, m)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := s.takeOver(ctx, sc, m, first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.takeOver(ctx, sc, m, first); !errors.Is(err, chat.ErrThrottled) {
			t.Fatalf("a second takeover of the same claim: %v, want a retry", err)
		}
		// The first send, late, gives back and marks what is no longer its own.
		s.release(ctx, m, first)
		s.finishClaim(ctx, m, first)
		rec, err := s.claimOf(ctx, m, nil)
		if err != nil || rec.nonce != mine || rec.finished {
			t.Fatalf("the claim after the first send's late release: %+v, %v; want the takeover's, unfinished", rec, err)
		}
		s.release(ctx, m, mine)
		if _, err := s.claimOf(ctx, m, nil); !errors.Is(err, chat.ErrThrottled) {
			t.Fatalf("a claim given back by its holder: %v, want it gone", err)
		}
	})
}
