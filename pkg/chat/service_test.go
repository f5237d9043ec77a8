package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
)

// fakePusher records every frame per connection; connections in gone
// answer ErrGone.
type fakePusher struct {
	mu     sync.Mutex
	frames map[string][]map[string]any
	gone   map[string]bool
}

func newFakePusher() *fakePusher {
	return &fakePusher{frames: map[string][]map[string]any{}, gone: map[string]bool{}}
}

func (p *fakePusher) Push(_ context.Context, connID string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone[connID] {
		return fmt.Errorf("post: %w", chat.ErrGone)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	p.frames[connID] = append(p.frames[connID], m)
	return nil
}

func (p *fakePusher) Disconnect(_ context.Context, connID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone[connID] = true
	return nil
}

// take returns and forgets the frames pushed to connID.
func (p *fakePusher) take(connID string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.frames[connID]
	delete(p.frames, connID)
	return f
}

func types(frames []map[string]any) []string {
	var ts []string
	for _, f := range frames {
		ts = append(ts, f["type"].(string))
	}
	return ts
}

// fixture's clock starts at the real time, because stores judge
// connection expiry by the wall clock.
type fixture struct {
	t     *testing.T
	svc   *chat.Service
	store chat.Store
	push  *fakePusher
	files chat.Files
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{t: t, store: store, push: newFakePusher(), now: time.Now().UTC().Truncate(time.Second)}
	tokens, err := auth.NewJWTTokens([]byte("0123456789abcdef0123456789abcdef"), auth.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	f.files = filestest.Embedded(t, "files")
	f.svc, err = chat.NewService(chat.Config{
		Store: store, Pusher: f.push, Tokens: tokens, Passwords: auth.BcryptPasswords{Cost: 4}, Now: f.clock,
		Files: f.files, FilePolicy: chat.FilePolicy{MaxSize: 1024}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type user struct {
	chat.Identity
	token string
}

func (f *fixture) register(name string) user {
	f.t.Helper()
	s, err := f.svc.Register(f.t.Context(), name, "password123", "198.51.100.1")
	if err != nil {
		f.t.Fatalf("register %s: %v", name, err)
	}
	return user{Identity: chat.Identity{UserID: s.UserID, Username: s.Username}, token: s.Token}
}

// connect opens an authenticated connection for u.
func (f *fixture) connect(u user, connID string) chat.Call {
	f.t.Helper()
	call := chat.Call{ConnID: connID, RequestID: "r-" + connID}
	if err := f.svc.Connect(f.t.Context(), call, &u.Identity); err != nil {
		f.t.Fatal(err)
	}
	return call
}

func wantCode(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestRegisterAndLogin(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := f.register("alice")
	if _, err := f.svc.Register(ctx, "alice", "another-pass", "198.51.100.1"); !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("duplicate register: %v", err)
	}
	for _, tc := range []struct{ name, user, pass string }{
		{"short name", "al", "password123"},
		{"bad chars", "al ice", "password123"},
		{"short password", "bobby", "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Register(ctx, tc.user, tc.pass, "198.51.100.1")
			wantCode(t, err, chat.ErrBadRequest)
		})
	}
	s, err := f.svc.LoginPassword(ctx, "alice", "password123", "10.0.0.1")
	if err != nil || s.UserID != alice.UserID || s.Token == "" {
		t.Fatalf("login = %+v, %v", s, err)
	}
	id, err := f.svc.Authenticate(ctx, s.Token)
	if err != nil || id != alice.Identity {
		t.Fatalf("token identity = %+v, %v", id, err)
	}
	_, errWrong := f.svc.LoginPassword(ctx, "alice", "wrong-password", "10.0.0.1")
	_, errNobody := f.svc.LoginPassword(ctx, "nobody", "wrong-password", "10.0.0.1")
	wantCode(t, errWrong, chat.ErrUnauthorized)
	if errWrong.Error() != errNobody.Error() {
		t.Fatalf("unknown user and wrong password differ: %q vs %q", errWrong, errNobody)
	}
}

func TestLoginFailuresAreLimited(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.register("carol")
	for i := range chat.DefaultLoginFailsPerUser {
		_, err := f.svc.LoginPassword(ctx, "carol", "wrong-password", fmt.Sprintf("10.0.0.%d", i))
		wantCode(t, err, chat.ErrUnauthorized)
	}
	_, err := f.svc.LoginPassword(ctx, "carol", "password123", "10.0.0.99")
	wantCode(t, err, chat.ErrRateLimited)
	f.advance(time.Minute)
	if _, err := f.svc.LoginPassword(ctx, "carol", "password123", "10.0.0.99"); err != nil {
		t.Fatalf("login after the window: %v", err)
	}
}

func TestLoginFailuresPerIP(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.register("dave")
	for i := range chat.DefaultLoginFailsPerIP {
		_, err := f.svc.LoginPassword(ctx, fmt.Sprintf("user%02d", i), "wrong-password", "10.9.9.9")
		wantCode(t, err, chat.ErrUnauthorized)
	}
	_, err := f.svc.LoginPassword(ctx, "dave", "password123", "10.9.9.9")
	wantCode(t, err, chat.ErrRateLimited)
	if _, err := f.svc.LoginPassword(ctx, "dave", "password123", "10.1.1.1"); err != nil {
		t.Fatalf("another IP is not limited: %v", err)
	}
}

func TestActionsNeedAuthentication(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	call := chat.Call{ConnID: "anon"}
	if err := f.svc.Connect(ctx, call, nil); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.PrivateMessage(ctx, call, protocol.Request{To: "x", Content: "hi"})
	wantCode(t, err, chat.ErrUnauthorized)
	_, err = f.svc.JoinRoom(ctx, call, protocol.Request{Room: "bar"})
	wantCode(t, err, chat.ErrUnauthorized)
	_, err = f.svc.Unknown(ctx, call, protocol.Request{Action: "dance"})
	wantCode(t, err, chat.ErrUnauthorized)
	if _, err := f.svc.Ping(ctx, call, protocol.Request{}); err != nil {
		t.Fatalf("ping needs no login: %v", err)
	}
	u := f.register("erin")
	_, err = f.svc.Login(ctx, call, protocol.Request{Token: "not-a-token"})
	wantCode(t, err, chat.ErrUnauthorized)
	replies, err := f.svc.Login(ctx, call, protocol.Request{Token: u.token, ID: "l1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := replies[0].(protocol.LoginOK)
	if ok.UserID != u.UserID || ok.ID != "l1" {
		t.Fatalf("login-ok = %+v", ok)
	}
	other := f.register("frank")
	_, err = f.svc.Login(ctx, call, protocol.Request{Token: other.token})
	wantCode(t, err, chat.ErrForbidden)
	_, err = f.svc.Unknown(ctx, call, protocol.Request{Action: "dance"})
	wantCode(t, err, chat.ErrUnknownAction)
}

func TestPrivateMessageDelivery(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, a2 := f.connect(alice, "a1"), f.connect(alice, "a2")
	b1 := f.connect(bob, "b1")

	replies, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{ID: "m1", To: bob.UserID, Content: "hello bob"})
	if err != nil {
		t.Fatal(err)
	}
	ack := replies[0].(protocol.Ack)
	if ack.Type != "ack" || ack.ID != "m1" || ack.MessageID == "" || ack.At != chat.FormatTime(f.clock()) {
		t.Fatalf("ack = %+v", ack)
	}
	for _, conn := range []string{b1.ConnID, a2.ConnID} {
		got := f.push.take(conn)
		if len(got) != 1 || got[0]["type"] != "private-message" || got[0]["content"] != "hello bob" ||
			got[0]["from"] != alice.UserID || got[0]["to"] != bob.UserID || got[0]["messageId"] != ack.MessageID {
			t.Fatalf("%s got %v", conn, got)
		}
	}
	if got := f.push.take(a1.ConnID); len(got) != 0 {
		t.Fatalf("the sending connection gets the ack, not the message: %v", got)
	}

	// The same id again: same messageId, nothing stored or delivered twice.
	replies, err = f.svc.PrivateMessage(ctx, a1, protocol.Request{ID: "m1", To: bob.UserID, Content: "hello bob"})
	if err != nil || replies[0].(protocol.Ack).MessageID != ack.MessageID {
		t.Fatalf("resend = %v, %v", replies, err)
	}
	if got := f.push.take(b1.ConnID); len(got) != 0 {
		t.Fatalf("resend delivered again: %v", got)
	}
	page, err := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if err != nil || len(page.Messages) != 1 {
		t.Fatalf("history = %+v, %v", page, err)
	}
}

func TestPrivateMessageRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1 := f.connect(alice, "a1")
	long := make([]rune, chat.MaxContentChars+1)
	for i := range long {
		long[i] = 'é'
	}
	for _, tc := range []struct {
		name string
		req  protocol.Request
		want error
	}{
		{"to self", protocol.Request{To: alice.UserID, Content: "hi"}, chat.ErrBadRequest},
		{"unknown user", protocol.Request{To: "01890000-0000-7000-8000-000000000000", Content: "hi"}, chat.ErrNotFound},
		{"bad to", protocol.Request{To: "../etc/passwd", Content: "hi"}, chat.ErrBadRequest},
		{"empty", protocol.Request{To: bob.UserID, Content: ""}, chat.ErrBadRequest},
		{"too long", protocol.Request{To: bob.UserID, Content: string(long)}, chat.ErrBadRequest},
		{"control char", protocol.Request{To: bob.UserID, Content: "a\x00b"}, chat.ErrBadRequest},
		{"invalid utf8", protocol.Request{To: bob.UserID, Content: "a\xffb"}, chat.ErrBadRequest},
		{"long id", protocol.Request{ID: string(make([]byte, 65)), To: bob.UserID, Content: "hi"}, chat.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.PrivateMessage(ctx, a1, tc.req)
			wantCode(t, err, tc.want)
		})
	}
	page, err := f.svc.History(ctx, alice.Identity, bob.UserID, chat.Page{})
	if err != nil || len(page.Messages) != 0 {
		t.Fatalf("refused messages were stored: %+v %v", page, err)
	}
}

func TestSendRateLimit(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1 := f.connect(alice, "a1")
	a2 := f.connect(alice, "a2")
	var first protocol.Ack
	for i := range chat.DefaultSendBurst {
		conn := a1
		if i%2 == 1 {
			conn = a2 // the limit is per user, across connections
		}
		r, err := f.svc.PrivateMessage(ctx, conn, protocol.Request{ID: fmt.Sprint("m", i), To: bob.UserID, Content: "m"})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i == 0 {
			first = r[0].(protocol.Ack)
		}
	}
	_, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{ID: "m9", To: bob.UserID, Content: "one too many"})
	wantCode(t, err, chat.ErrRateLimited)
	// A resend is no new send: over the limit it still gets its ack.
	r, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{ID: "m0", To: bob.UserID, Content: "m"})
	if err != nil || r[0].(protocol.Ack).MessageID != first.MessageID {
		t.Fatalf("resend over the limit = %v, %v", r, err)
	}
	page, _ := f.svc.History(ctx, alice.Identity, bob.UserID, chat.Page{})
	if len(page.Messages) != chat.DefaultSendBurst {
		t.Fatalf("stored %d messages, want %d", len(page.Messages), chat.DefaultSendBurst)
	}
	f.advance(time.Second)
	if _, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{To: bob.UserID, Content: "later"}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestDeleteMessage(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, eve := f.register("alice"), f.register("bob"), f.register("eve")
	a1, a2, b1 := f.connect(alice, "a1"), f.connect(alice, "a2"), f.connect(bob, "b1")
	e1 := f.connect(eve, "e1")
	replies, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{To: bob.UserID, Content: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	id := replies[0].(protocol.Ack).MessageID
	f.push.take(b1.ConnID)
	f.push.take(a2.ConnID)

	_, err = f.svc.MessageDeleted(ctx, b1, protocol.Request{MessageID: id})
	wantCode(t, err, chat.ErrForbidden)
	_, err = f.svc.MessageDeleted(ctx, e1, protocol.Request{MessageID: id})
	wantCode(t, err, chat.ErrForbidden)
	_, err = f.svc.MessageDeleted(ctx, a1, protocol.Request{MessageID: "01890000-0000-7000-8000-000000000000"})
	wantCode(t, err, chat.ErrNotFound)
	if _, err := f.svc.MessageDeleted(ctx, a1, protocol.Request{MessageID: id}); err != nil {
		t.Fatal(err)
	}
	got := f.push.take(b1.ConnID)
	if len(got) != 1 || got[0]["type"] != "message-deleted" || got[0]["messageId"] != id || got[0]["chatWith"] != alice.UserID {
		t.Fatalf("bob got %v", got)
	}
	if got := f.push.take(a2.ConnID); len(got) != 1 || got[0]["chatWith"] != bob.UserID {
		t.Fatalf("alice's other connection got %v", got)
	}
	page, _ := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if len(page.Messages) != 1 || !page.Messages[0].Deleted || page.Messages[0].Content != "" {
		t.Fatalf("history after delete = %+v", page.Messages)
	}
}

func TestRoomsSeatsAndNotices(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	users := make([]user, 9)
	calls := make([]chat.Call, 9)
	for i := range users {
		users[i] = f.register(fmt.Sprintf("user%d", i))
		calls[i] = f.connect(users[i], fmt.Sprintf("c%d", i))
	}
	replies, err := f.svc.JoinRoom(ctx, calls[0], protocol.Request{ID: "j", Room: "bar"})
	if err != nil {
		t.Fatal(err)
	}
	up := replies[0].(protocol.Update)
	if up.ID != "j" || up.Version < 1 || *up.Seats[0].UserID != users[0].UserID || up.Seats[0].Avatar != chat.SeatAvatars[0] ||
		up.Seats[1].UserID != nil || up.Seats[1].Avatar != chat.EmptySeatAvatar {
		t.Fatalf("update = %+v", up)
	}
	if n := replies[1].(protocol.Notice); n.Event != "join" || n.UserID != users[0].UserID {
		t.Fatalf("notice = %+v", n)
	}
	for i := 1; i < 8; i++ {
		if _, err := f.svc.JoinRoom(ctx, calls[i], protocol.Request{Room: "bar"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := types(f.push.take(calls[0].ConnID)); len(got) != 14 {
		t.Fatalf("first member saw %v, want 7 updates and 7 notices", got)
	}
	replies, err = f.svc.JoinRoom(ctx, calls[8], protocol.Request{ID: "x", Room: "bar"})
	if err != nil || replies[0].(protocol.Full).Type != "full" {
		t.Fatalf("ninth joiner = %v, %v", replies, err)
	}
	_, err = f.svc.GroupMessage(ctx, calls[8], protocol.Request{Room: "bar", Msg: "let me in"})
	wantCode(t, err, chat.ErrForbidden)

	// Re-joining keeps the seat and changes nothing.
	before, _ := f.store.GetRoom(ctx, "bar")
	replies, _ = f.svc.JoinRoom(ctx, calls[3], protocol.Request{Room: "bar"})
	if u := replies[0].(protocol.Update); u.Version != before.Version || len(replies) != 1 {
		t.Fatalf("rejoin changed the room: %+v", replies)
	}

	replies, err = f.svc.GroupMessage(ctx, calls[2], protocol.Request{ID: "g", Room: "bar", Msg: "cheers", Token: "ignored"})
	if err != nil || replies[0].(protocol.Ack).MessageID == "" {
		t.Fatalf("group = %v, %v", replies, err)
	}
	for i := range 8 {
		got := f.push.take(calls[i].ConnID)
		last := got[len(got)-1]
		if last["type"] != "group-message" || last["msg"] != "cheers" || last["uname"] != "user2" || last["userId"] != users[2].UserID {
			t.Fatalf("member %d got %v", i, last)
		}
	}

	// Leaving frees the seat for the next joiner.
	if _, err := f.svc.LeaveRoom(ctx, calls[5], protocol.Request{Room: "bar"}); err != nil {
		t.Fatal(err)
	}
	got := f.push.take(calls[0].ConnID)
	if types(got)[0] != "update" || got[1]["event"] != "leave" {
		t.Fatalf("leave frames = %v", got)
	}
	replies, _ = f.svc.JoinRoom(ctx, calls[8], protocol.Request{Room: "bar"})
	if u := replies[0].(protocol.Update); *u.Seats[5].UserID != users[8].UserID {
		t.Fatalf("freed seat not reused: %+v", u.Seats[5])
	}
}

func TestDisconnectFreesSeatOfLastConnection(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, a2, b1 := f.connect(alice, "a1"), f.connect(alice, "a2"), f.connect(bob, "b1")
	for _, c := range []chat.Call{a1, b1} {
		if _, err := f.svc.JoinRoom(ctx, c, protocol.Request{Room: "pub"}); err != nil {
			t.Fatal(err)
		}
	}
	f.push.take(b1.ConnID)
	if err := f.svc.Disconnect(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.store.GetRoom(ctx, "pub"); r.SeatOf(alice.UserID) < 0 {
		t.Fatal("seat freed while another connection of the user is open")
	}
	if err := f.svc.Disconnect(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.store.GetRoom(ctx, "pub"); r.SeatOf(alice.UserID) >= 0 {
		t.Fatal("seat kept after the last connection closed")
	}
	got := f.push.take(b1.ConnID)
	if len(got) != 2 || got[1]["event"] != "leave" || got[1]["userId"] != alice.UserID {
		t.Fatalf("bob got %v", got)
	}
}

func TestGoneConnectionIsDropped(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, b1 := f.connect(alice, "a1"), f.connect(bob, "b1")
	for _, c := range []chat.Call{a1, b1} {
		if _, err := f.svc.JoinRoom(ctx, c, protocol.Request{Room: "pub"}); err != nil {
			t.Fatal(err)
		}
	}
	f.push.Disconnect(ctx, b1.ConnID) // gone without a $disconnect
	// Within its first seconds a connection may still be in its $connect,
	// where pushes answer Gone: it is not dropped for that.
	if _, err := f.svc.GroupMessage(ctx, a1, protocol.Request{Room: "pub", Msg: "early"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetConnection(ctx, b1.ConnID); err != nil {
		t.Fatalf("a young connection was dropped on Gone: %v", err)
	}
	f.advance(time.Minute)
	if _, err := f.svc.GroupMessage(ctx, a1, protocol.Request{Room: "pub", Msg: "anyone?"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetConnection(ctx, b1.ConnID); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("gone connection kept: %v", err)
	}
	if _, err := f.store.GetConnection(ctx, a1.ConnID); err != nil {
		t.Fatalf("sender's connection dropped: %v", err)
	}
	r, _ := f.store.GetRoom(ctx, "pub")
	if r.SeatOf(bob.UserID) >= 0 || r.SeatOf(alice.UserID) < 0 {
		t.Fatalf("seats after gone = %+v", r.Seats)
	}
}

func TestHistoryPagingAndConversations(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1 := f.connect(alice, "a1")
	var ids []string
	for i := range 5 {
		f.advance(time.Second) // refill the bucket and order the ids
		r, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{To: bob.UserID, Content: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r[0].(protocol.Ack).MessageID)
	}
	convs, err := f.svc.Conversations(ctx, bob.Identity)
	if err != nil || len(convs) != 1 || convs[0].Unread != 5 || convs[0].Peer.Username != "alice" || convs[0].LastMessage.Content != "m4" {
		t.Fatalf("conversations = %+v, %v", convs, err)
	}
	p1, err := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{Limit: 2})
	if err != nil || len(p1.Messages) != 2 || p1.Messages[0].MessageID != ids[4] || p1.Next != ids[3] {
		t.Fatalf("page 1 = %+v, %v", p1, err)
	}
	p2, _ := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{Limit: 2, Before: p1.Next})
	if len(p2.Messages) != 2 || p2.Messages[0].MessageID != ids[2] || p2.Next != ids[1] {
		t.Fatalf("page 2 = %+v", p2)
	}
	caught, _ := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{Limit: 2, After: ids[0]})
	if len(caught.Messages) != 2 || caught.Messages[0].MessageID != ids[2] || caught.Messages[1].MessageID != ids[1] || caught.Next != ids[2] {
		t.Fatalf("after page = %+v", caught)
	}
	convs, _ = f.svc.Conversations(ctx, bob.Identity)
	if convs[0].Unread != 0 {
		t.Fatalf("reading did not mark read: %+v", convs[0])
	}
	_, err = f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{Limit: 101})
	wantCode(t, err, chat.ErrBadRequest)
}

func TestAvatarReachesPeersAndRoomMates(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol, dan := f.register("alice"), f.register("bob"), f.register("carol"), f.register("dan")
	a1, b1, c1, d1 := f.connect(alice, "a1"), f.connect(bob, "b1"), f.connect(carol, "c1"), f.connect(dan, "d1")
	if _, err := f.svc.PrivateMessage(ctx, a1, protocol.Request{To: bob.UserID, Content: "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chat.Call{a1, c1} {
		if _, err := f.svc.JoinRoom(ctx, c, protocol.Request{Room: "pub"}); err != nil {
			t.Fatal(err)
		}
	}
	f.push.take(b1.ConnID)
	f.push.take(c1.ConnID)
	if _, err := f.svc.AvatarUpdated(ctx, a1, protocol.Request{Avatar: "🐱"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chat.Call{b1, c1} {
		got := f.push.take(c.ConnID)
		if len(got) != 1 || got[0]["type"] != "avatar-updated" || got[0]["avatar"] != "🐱" || got[0]["userId"] != alice.UserID {
			t.Fatalf("%s got %v", c.ConnID, got)
		}
	}
	if got := f.push.take(d1.ConnID); len(got) != 0 {
		t.Fatalf("a stranger got %v", got)
	}
}

func TestRegistrationsPerIPAreLimited(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i := range chat.DefaultRegistersPerIP {
		if _, err := f.svc.Register(ctx, fmt.Sprintf("bulk%02d", i), "password123", "203.0.113.7"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.Register(ctx, "onemore", "password123", "203.0.113.7")
	wantCode(t, err, chat.ErrRateLimited)
	if _, err := f.svc.Register(ctx, "onemore", "password123", "203.0.113.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.advance(time.Minute)
	if _, err := f.svc.Register(ctx, "nextminute", "password123", "203.0.113.7"); err != nil {
		t.Fatalf("next minute: %v", err)
	}
}

func TestAvatarChangesAreLimited(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := f.register("alice")
	a1 := f.connect(alice, "a1")
	for i := range chat.DefaultAvatarBurst {
		if _, err := f.svc.AvatarUpdated(ctx, a1, protocol.Request{Avatar: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.AvatarUpdated(ctx, a1, protocol.Request{Avatar: "one too many"})
	wantCode(t, err, chat.ErrRateLimited)
	f.advance(time.Second)
	if _, err := f.svc.AvatarUpdated(ctx, a1, protocol.Request{Avatar: "later"}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}
