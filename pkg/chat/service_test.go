package chat_test

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// fixture is a Service over a real store, limiter and embedded S3, with a
// recording pusher and a clock the test moves. The store reads the same
// clock, so connection expiry follows it too.
type fixture struct {
	t     *testing.T
	svc   *chat.Service
	store *boltstore.BoltStore
	push  *testenv.Pusher
	files chat.Files
	mu    sync.Mutex
	now   time.Time
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
	f := &fixture{t: t, push: testenv.NewPusher(), now: time.Now().UTC().Truncate(time.Second)}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "chat.db"), boltstore.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	tokens, err := auth.NewJWTTokens([]byte("0123456789abcdef0123456789abcdef"), auth.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	f.files = testenv.EmbeddedFiles(t, "files")
	f.svc, err = chat.NewService(chat.Config{
		Store: store, Limiter: memlimit.New(), Pusher: f.push, Encoder: edge.Wire{},
		Tokens: tokens, Passwords: auth.BcryptPasswords{Cost: 4}, Now: f.clock,
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
	return user{Identity: s.Identity, token: s.Token}
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

func (f *fixture) sendPrivate(from chat.Call, to user, content, id string) chat.Message {
	f.t.Helper()
	m, err := f.svc.SendPrivate(f.t.Context(), from.Sender(), chat.PrivateSend{To: to.UserID, Content: content, ClientID: id}, nil)
	if err != nil {
		f.t.Fatalf("send %q: %v", content, err)
	}
	return m
}

func (f *fixture) join(c chat.Call, room string) chat.JoinResult {
	f.t.Helper()
	r, err := f.svc.JoinRoom(f.t.Context(), c, room)
	if err != nil {
		f.t.Fatalf("join %s: %v", room, err)
	}
	return r
}

func wantCode(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func types(frames []map[string]any) []string { return testenv.Types(frames) }

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
	if wait := chat.RetryAfter(err); wait <= 0 || wait > time.Minute {
		t.Fatalf("a refused login says to retry after %v, want within the minute", wait)
	}
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
	bob := f.register("bob")
	_, err := f.svc.SendPrivate(ctx, call.Sender(), chat.PrivateSend{To: bob.UserID, Content: "hi"}, nil)
	wantCode(t, err, chat.ErrUnauthorized)
	_, err = f.svc.JoinRoom(ctx, call, "bar")
	wantCode(t, err, chat.ErrUnauthorized)
	_, err = f.svc.Identify(ctx, call)
	wantCode(t, err, chat.ErrUnauthorized)
	u := f.register("erin")
	_, err = f.svc.Login(ctx, call, "not-a-token")
	wantCode(t, err, chat.ErrUnauthorized)
	id, err := f.svc.Login(ctx, call, u.token)
	if err != nil || id != u.Identity {
		t.Fatalf("login = %+v, %v", id, err)
	}
	other := f.register("frank")
	_, err = f.svc.Login(ctx, call, other.token)
	wantCode(t, err, chat.ErrForbidden)
	if got, err := f.svc.Identify(ctx, call); err != nil || got != u.Identity {
		t.Fatalf("identify after login = %+v, %v", got, err)
	}
	// The authorizer's identity needs no lookup at all.
	ghost := chat.Call{ConnID: "never-recorded", Identity: &other.Identity}
	if got, err := f.svc.Identify(ctx, ghost); err != nil || got != other.Identity {
		t.Fatalf("identify from the authorizer's context = %+v, %v", got, err)
	}
}

func TestPrivateMessageDelivery(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, a2 := f.connect(alice, "a1"), f.connect(alice, "a2")
	b1 := f.connect(bob, "b1")

	var acked []chat.Receipt
	m, err := f.svc.SendPrivate(ctx, a1.Sender(), chat.PrivateSend{To: bob.UserID, Content: "hello bob", ClientID: "m1"}, func(r chat.Receipt) {
		acked = append(acked, r)
		// The receipt is told before anyone else is pushed the message.
		if got := f.push.Take(b1.ConnID); len(got) != 0 {
			t.Errorf("the recipient was pushed %v before the sender's ack", got)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) != 1 || acked[0].MessageID != m.MessageID || acked[0].Seq != 1 || !acked[0].At.Equal(f.clock()) {
		t.Fatalf("acked %+v for %+v", acked, m)
	}
	for _, conn := range []string{b1.ConnID, a2.ConnID} {
		got := f.push.Take(conn)
		if len(got) != 1 || got[0]["type"] != "private-message" || got[0]["content"] != "hello bob" || got[0]["seq"] != 1.0 ||
			got[0]["from"] != alice.UserID || got[0]["to"] != bob.UserID || got[0]["messageId"] != m.MessageID {
			t.Fatalf("%s got %v", conn, got)
		}
	}
	if got := f.push.Take(a1.ConnID); len(got) != 0 {
		t.Fatalf("the sending connection gets the ack, not the message: %v", got)
	}
	// The same id again: same message, nothing stored or delivered twice.
	again, err := f.svc.SendPrivate(ctx, a1.Sender(), chat.PrivateSend{To: bob.UserID, Content: "hello bob", ClientID: "m1"}, nil)
	if err != nil || again.MessageID != m.MessageID {
		t.Fatalf("resend = %+v, %v", again, err)
	}
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("resend delivered again: %v", got)
	}
	// The reply continues the conversation's seq.
	f.advance(time.Second)
	reply := f.sendPrivate(b1, alice, "hi alice", "")
	if reply.Seq != 2 {
		t.Fatalf("the reply's seq = %d, want 2", reply.Seq)
	}
	page, err := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if err != nil || len(page.Messages) != 2 || page.Messages[0].Seq != 2 {
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
		in   chat.PrivateSend
		want error
	}{
		{"to self", chat.PrivateSend{To: alice.UserID, Content: "hi"}, chat.ErrBadRequest},
		{"unknown user", chat.PrivateSend{To: "01890000-0000-7000-8000-000000000000", Content: "hi"}, chat.ErrNotFound},
		{"bad to", chat.PrivateSend{To: "../etc/passwd", Content: "hi"}, chat.ErrBadRequest},
		{"empty", chat.PrivateSend{To: bob.UserID, Content: ""}, chat.ErrBadRequest},
		{"too long", chat.PrivateSend{To: bob.UserID, Content: string(long)}, chat.ErrBadRequest},
		{"control char", chat.PrivateSend{To: bob.UserID, Content: "a\x00b"}, chat.ErrBadRequest},
		{"invalid utf8", chat.PrivateSend{To: bob.UserID, Content: "a\xffb"}, chat.ErrBadRequest},
		{"long id", chat.PrivateSend{ClientID: string(make([]byte, 65)), To: bob.UserID, Content: "hi"}, chat.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.SendPrivate(ctx, a1.Sender(), tc.in, nil)
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
	var first chat.Message
	for i := range chat.DefaultSendBurst {
		conn := a1
		if i%2 == 1 {
			conn = a2 // the limit is per user, across connections
		}
		m := f.sendPrivate(conn, bob, "m", fmt.Sprint("m", i))
		if i == 0 {
			first = m
		}
	}
	_, err := f.svc.SendPrivate(ctx, a1.Sender(), chat.PrivateSend{ClientID: "m9", To: bob.UserID, Content: "one too many"}, nil)
	wantCode(t, err, chat.ErrRateLimited)
	if wait := chat.RetryAfter(err); wait != 200*time.Millisecond {
		t.Fatalf("retry after %v, want 200ms (one token at 5/s)", wait)
	}
	// A resend is no new send: over the limit it still gets its receipt.
	again, err := f.svc.SendPrivate(ctx, a1.Sender(), chat.PrivateSend{ClientID: "m0", To: bob.UserID, Content: "m"}, nil)
	if err != nil || again.MessageID != first.MessageID {
		t.Fatalf("resend over the limit = %+v, %v", again, err)
	}
	page, _ := f.svc.History(ctx, alice.Identity, bob.UserID, chat.Page{})
	if len(page.Messages) != chat.DefaultSendBurst {
		t.Fatalf("stored %d messages, want %d", len(page.Messages), chat.DefaultSendBurst)
	}
	f.advance(200 * time.Millisecond)
	// The refused id is free again: its retry is a first send.
	if m := f.sendPrivate(a1, bob, "one too many", "m9"); m.Seq != chat.DefaultSendBurst+1 {
		t.Fatalf("retry after waiting: seq %d", m.Seq)
	}
}

func TestDeleteMessage(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, eve := f.register("alice"), f.register("bob"), f.register("eve")
	a1, a2, b1 := f.connect(alice, "a1"), f.connect(alice, "a2"), f.connect(bob, "b1")
	e1 := f.connect(eve, "e1")
	m := f.sendPrivate(a1, bob, "oops", "")
	f.push.Take(b1.ConnID)
	f.push.Take(a2.ConnID)

	wantCode(t, f.svc.DeleteMessage(ctx, b1.Sender(), m.MessageID), chat.ErrForbidden)
	wantCode(t, f.svc.DeleteMessage(ctx, e1.Sender(), m.MessageID), chat.ErrNotFound)
	wantCode(t, f.svc.DeleteMessage(ctx, a1.Sender(), "01890000-0000-7000-8000-000000000000"), chat.ErrNotFound)
	if err := f.svc.DeleteMessage(ctx, a1.Sender(), m.MessageID); err != nil {
		t.Fatal(err)
	}
	got := f.push.Take(b1.ConnID)
	if len(got) != 1 || got[0]["type"] != "message-deleted" || got[0]["messageId"] != m.MessageID || got[0]["chatWith"] != alice.UserID {
		t.Fatalf("bob got %v", got)
	}
	if got := f.push.Take(a2.ConnID); len(got) != 1 || got[0]["chatWith"] != bob.UserID {
		t.Fatalf("alice's other connection got %v", got)
	}
	page, _ := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if len(page.Messages) != 1 || !page.Messages[0].Deleted || page.Messages[0].Content != "" || page.Messages[0].Seq != 1 {
		t.Fatalf("history after delete = %+v", page.Messages)
	}
	// Deleting again is harmless and tells no one.
	if err := f.svc.DeleteMessage(ctx, a1.Sender(), m.MessageID); err != nil || len(f.push.Take(b1.ConnID)) != 0 {
		t.Fatalf("second delete: %v", err)
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
	res := f.join(calls[0], "bar")
	r := res.Room
	if !res.Joined || r.Version < 1 || r.Epoch == "" || r.Seats[0].UserID != users[0].UserID || res.Notice.Kind != chat.NoticeJoin {
		t.Fatalf("first join = %+v", res)
	}
	for i := 1; i < 8; i++ {
		f.join(calls[i], "bar")
	}
	frames := f.push.Take(calls[0].ConnID)
	if got := types(frames); len(got) != 14 {
		t.Fatalf("first member saw %v, want 7 updates and 7 notices", got)
	}
	for _, fr := range frames {
		if fr["epoch"] != r.Epoch {
			t.Fatalf("a room frame without the room's epoch: %v", fr)
		}
	}
	full := f.join(calls[8], "bar")
	if !full.Full || full.Room.Epoch != r.Epoch {
		t.Fatalf("ninth joiner = %+v", full)
	}
	_, err := f.svc.SendGroup(ctx, calls[8], chat.GroupSend{Room: "bar", Msg: "let me in"}, nil)
	wantCode(t, err, chat.ErrForbidden)

	// Re-joining keeps the seat and changes nothing.
	before, _ := f.store.GetRoom(ctx, "bar")
	if again := f.join(calls[3], "bar"); again.Joined || again.Room.Version != before.Version {
		t.Fatalf("rejoin changed the room: %+v", again)
	}
	var acked chat.Receipt
	m, err := f.svc.SendGroup(ctx, calls[2], chat.GroupSend{Room: "bar", Msg: "cheers", ClientID: "g"}, func(rc chat.Receipt) { acked = rc })
	if err != nil || m.Seq != 1 || acked.Seq != 1 || acked.Room != "bar" || acked.Epoch != r.Epoch {
		t.Fatalf("group = %+v (acked %+v), %v", m, acked, err)
	}
	for i := range 8 {
		got := f.push.Take(calls[i].ConnID)
		last := got[len(got)-1]
		if last["type"] != "group-message" || last["msg"] != "cheers" || last["uname"] != "user2" ||
			last["userId"] != users[2].UserID || last["seq"] != 1.0 || last["epoch"] != r.Epoch {
			t.Fatalf("member %d got %v", i, last)
		}
	}
	// Leaving frees the seat for the next joiner.
	if err := f.svc.LeaveRoom(ctx, calls[5], "bar"); err != nil {
		t.Fatal(err)
	}
	got := f.push.Take(calls[0].ConnID)
	if types(got)[0] != "update" || got[1]["event"] != "leave" {
		t.Fatalf("leave frames = %v", got)
	}
	if again := f.join(calls[8], "bar"); again.Room.Seats[5].UserID != users[8].UserID {
		t.Fatalf("freed seat not reused: %+v", again.Room.Seats[5])
	}
}

func TestRoomHistoryIsForTheSeated(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, b1 := f.connect(alice, "a1"), f.connect(bob, "b1")
	f.join(a1, "bar")
	for i := range 3 {
		f.advance(time.Second)
		if _, err := f.svc.SendGroup(ctx, a1, chat.GroupSend{Room: "bar", Msg: fmt.Sprint("g", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.RoomHistory(ctx, bob.Identity, "bar", chat.Page{})
	wantCode(t, err, chat.ErrForbidden)
	f.join(b1, "bar")
	page, err := f.svc.RoomHistory(ctx, bob.Identity, "bar", chat.Page{Limit: 2})
	if err != nil || len(page.Messages) != 2 || page.Messages[0].Seq != 3 || page.Next == "" {
		t.Fatalf("room history = %+v, %v", page, err)
	}
	// Once everyone left, the room starts a new epoch with no history.
	for _, c := range []chat.Call{a1, b1} {
		if err := f.svc.LeaveRoom(ctx, c, "bar"); err != nil {
			t.Fatal(err)
		}
	}
	f.join(b1, "bar")
	if page, _ := f.svc.RoomHistory(ctx, bob.Identity, "bar", chat.Page{}); len(page.Messages) != 0 {
		t.Fatalf("a new epoch shows %d old messages", len(page.Messages))
	}
}

func TestDisconnectFreesSeatOfLastConnection(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, a2, b1 := f.connect(alice, "a1"), f.connect(alice, "a2"), f.connect(bob, "b1")
	for _, c := range []chat.Call{a1, b1} {
		f.join(c, "pub")
	}
	f.push.Take(b1.ConnID)
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
	got := f.push.Take(b1.ConnID)
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
		f.join(c, "pub")
	}
	f.push.Gone(b1.ConnID) // gone without a $disconnect
	// Within its first seconds a connection may still be in its $connect,
	// where pushes answer Gone: it is not dropped for that.
	if _, err := f.svc.SendGroup(ctx, a1, chat.GroupSend{Room: "pub", Msg: "early"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetConnection(ctx, b1.ConnID); err != nil {
		t.Fatalf("a young connection was dropped on Gone: %v", err)
	}
	f.advance(time.Minute)
	if _, err := f.svc.SendGroup(ctx, a1, chat.GroupSend{Room: "pub", Msg: "anyone?"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.GetConnection(ctx, b1.ConnID); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("gone connection kept: %v", err)
	}
	r, _ := f.store.GetRoom(ctx, "pub")
	if r.SeatOf(bob.UserID) >= 0 || r.SeatOf(alice.UserID) < 0 {
		t.Fatalf("seats after gone = %+v", r.Seats)
	}
}

// A push that fails for another reason than a gone connection is tried a
// few times; a connection that still fails is closed, so that its client
// reconnects and catches up, and the sender and other members are served.
func TestFailedPushClosesTheConnection(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol := f.register("alice"), f.register("bob"), f.register("carol")
	a1, b1, c1 := f.connect(alice, "a1"), f.connect(bob, "b1"), f.connect(carol, "c1")
	for _, c := range []chat.Call{a1, b1, c1} {
		f.join(c, "pub")
	}
	f.push.Take(a1.ConnID)
	f.push.Take(c1.ConnID)
	f.push.Fail(b1.ConnID, errors.New("throttled"))
	var acked bool
	if _, err := f.svc.SendGroup(ctx, a1, chat.GroupSend{Room: "pub", Msg: "hi"}, func(chat.Receipt) { acked = true }); err != nil || !acked {
		t.Fatalf("send with one member failing: %v, acked %t", err, acked)
	}
	if got := f.push.Take(c1.ConnID); len(got) != 1 || got[0]["msg"] != "hi" {
		t.Fatalf("another member got %v", got)
	}
	if alive, _ := f.push.Alive(ctx, b1.ConnID); alive {
		t.Fatal("the connection that kept failing was not closed")
	}
}

// Before anyone is told the room is full, seats whose holder has no live
// connection (their $disconnect never came) are freed.
func TestGhostSeatsAreFreedBeforeFull(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var calls []chat.Call
	var users []user
	for i := range chat.SeatCount {
		users = append(users, f.register(fmt.Sprintf("user%d", i)))
		calls = append(calls, f.connect(users[i], fmt.Sprintf("c%d", i)))
		f.join(calls[i], "bar")
	}
	late := f.register("late")
	l1 := f.connect(late, "l1")
	if res := f.join(l1, "bar"); !res.Full {
		t.Fatalf("a ninth joiner with eight live holders: %+v", res)
	}
	f.push.Gone(calls[3].ConnID, calls[6].ConnID) // closed, no $disconnect
	res := f.join(l1, "bar")
	if !res.Joined || res.Room.SeatOf(late.UserID) != 3 || res.Room.SeatOf(users[6].UserID) >= 0 {
		t.Fatalf("join after two ghosts: %+v", res)
	}
	// The remaining members were told the ghosts left.
	got := f.push.Take(calls[0].ConnID)
	leaves := 0
	for _, fr := range got {
		if fr["event"] == "leave" {
			leaves++
		}
	}
	if leaves != 2 {
		t.Fatalf("a member saw %d leaves, want 2: %v", leaves, types(got))
	}
	if _, err := f.store.GetConnection(ctx, calls[3].ConnID); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("the ghost's connection is kept: %v", err)
	}
}

func TestHistoryPagingAndConversations(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1 := f.connect(alice, "a1")
	var ids []string
	for i := range 5 {
		f.advance(time.Second)
		ids = append(ids, f.sendPrivate(a1, bob, fmt.Sprint("m", i), "").MessageID)
	}
	convs, err := f.svc.Conversations(ctx, bob.Identity)
	if err != nil || len(convs) != 1 || convs[0].Unread != 5 || convs[0].Peer.Username != "alice" || convs[0].LastMessage.Content != "m4" {
		t.Fatalf("conversations = %+v, %v", convs, err)
	}
	if !convs[0].Peer.Online() || convs[0].ReadUpTo != "" {
		t.Fatalf("alice is connected and bob read nothing: %+v", convs[0])
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
	// Reading history marks nothing read in v1.1: only read does.
	convs, _ = f.svc.Conversations(ctx, bob.Identity)
	if convs[0].Unread != 5 {
		t.Fatalf("reading history changed unread: %+v", convs[0])
	}
	_, err = f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{Limit: 101})
	wantCode(t, err, chat.ErrBadRequest)
}

func TestReadReceipts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol := f.register("alice"), f.register("bob"), f.register("carol")
	a1 := f.connect(alice, "a1")
	b1, b2 := f.connect(bob, "b1"), f.connect(bob, "b2")
	m1 := f.sendPrivate(a1, bob, "one", "")
	f.advance(time.Second)
	m2 := f.sendPrivate(a1, bob, "two", "")
	other := f.sendPrivate(a1, carol, "elsewhere", "")
	f.push.Take(a1.ConnID)
	f.push.Take(b2.ConnID)

	if err := f.svc.MarkRead(ctx, b1, alice.UserID, m2.MessageID); err != nil {
		t.Fatal(err)
	}
	got := f.push.Take(a1.ConnID)
	if len(got) != 1 || got[0]["type"] != "read" || got[0]["by"] != bob.UserID || got[0]["chatWith"] != bob.UserID || got[0]["messageId"] != m2.MessageID {
		t.Fatalf("alice got %v", got)
	}
	if got := f.push.Take(b2.ConnID); len(got) != 1 || got[0]["chatWith"] != alice.UserID || got[0]["by"] != bob.UserID {
		t.Fatalf("bob's other device got %v", got)
	}
	convs, _ := f.svc.Conversations(ctx, bob.Identity)
	if convs[0].Unread != 0 || convs[0].ReadUpTo != m2.MessageID {
		t.Fatalf("bob's conversation after reading: %+v", convs[0])
	}
	convs, _ = f.svc.Conversations(ctx, alice.Identity)
	for _, c := range convs {
		if c.Peer.UserID == bob.UserID && c.PeerReadUpTo != m2.MessageID {
			t.Fatalf("alice sees bob's marker %q, want m2", c.PeerReadUpTo)
		}
	}
	// Back is no move: acknowledged, told to no one.
	if err := f.svc.MarkRead(ctx, b1, alice.UserID, m1.MessageID); err != nil || len(f.push.Take(a1.ConnID)) != 0 {
		t.Fatalf("reading an older message: %v", err)
	}
	wantCode(t, f.svc.MarkRead(ctx, b1, alice.UserID, other.MessageID), chat.ErrNotFound)
	wantCode(t, f.svc.MarkRead(ctx, b1, carol.UserID, m1.MessageID), chat.ErrNotFound)
}

func TestPresence(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	b1 := f.connect(bob, "b1")
	state, err := f.svc.SubscribePresence(ctx, b1, []string{alice.UserID, "01890000-0000-7000-8000-000000000000"})
	if err != nil || len(state) != 2 {
		t.Fatalf("subscribe = %+v, %v", state, err)
	}
	for _, p := range state {
		if p.Online || !p.LastSeen.IsZero() {
			t.Fatalf("a user never online: %+v", p)
		}
	}
	a1 := f.connect(alice, "a1")
	got := f.push.Take(b1.ConnID)
	if len(got) != 1 || got[0]["type"] != "presence" || got[0]["userId"] != alice.UserID || got[0]["online"] != true {
		t.Fatalf("bob got %v when alice came online", got)
	}
	f.connect(alice, "a2")
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("a second device is no news: %v", got)
	}
	for _, c := range []string{"a1", "a2"} {
		if err := f.svc.Disconnect(ctx, chat.Call{ConnID: c}); err != nil {
			t.Fatal(err)
		}
	}
	got = f.push.Take(b1.ConnID)
	if len(got) != 1 || got[0]["online"] != false || got[0]["lastSeen"] != chat.FormatTime(f.clock()) {
		t.Fatalf("bob got %v when alice's last connection closed", got)
	}
	state, _ = f.svc.SubscribePresence(ctx, b1, []string{alice.UserID})
	if state[0].Online || !state[0].LastSeen.Equal(f.clock()) {
		t.Fatalf("presence-state after alice left: %+v", state[0])
	}
	if err := f.svc.UnsubscribePresence(ctx, b1, []string{alice.UserID}); err != nil {
		t.Fatal(err)
	}
	f.connect(alice, a1.ConnID)
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("an unsubscribed connection was told: %v", got)
	}
	ids := make([]string, chat.MaxPresenceIDs+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("01890000-0000-7000-8000-%012d", i)
	}
	_, err = f.svc.SubscribePresence(ctx, b1, ids)
	wantCode(t, err, chat.ErrBadRequest)
	_, err = f.svc.SubscribePresence(ctx, b1, nil)
	wantCode(t, err, chat.ErrBadRequest)
}

func TestTyping(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol := f.register("alice"), f.register("bob"), f.register("carol")
	a1, a2, b1, c1 := f.connect(alice, "a1"), f.connect(alice, "a2"), f.connect(bob, "b1"), f.connect(carol, "c1")
	relayed, err := f.svc.Typing(ctx, a1, chat.TypingInput{To: bob.UserID, State: chat.TypingStart})
	if err != nil || !relayed {
		t.Fatalf("typing = %t, %v", relayed, err)
	}
	if got := f.push.Take(b1.ConnID); len(got) != 1 || got[0]["type"] != "typing" || got[0]["from"] != alice.UserID || got[0]["state"] != "start" {
		t.Fatalf("bob got %v", got)
	}
	if got := f.push.Take(a2.ConnID); len(got) != 0 {
		t.Fatalf("the typist's own device got %v", got)
	}
	// In a room: everyone seated but the typist; a seat is needed.
	f.join(a1, "bar")
	f.join(b1, "bar")
	f.push.Take(a1.ConnID)
	f.push.Take(a2.ConnID)
	f.push.Take(b1.ConnID)
	_, err = f.svc.Typing(ctx, c1, chat.TypingInput{Room: "bar", State: chat.TypingStart})
	wantCode(t, err, chat.ErrForbidden)
	if _, err := f.svc.Typing(ctx, b1, chat.TypingInput{Room: "bar", State: chat.TypingStop}); err != nil {
		t.Fatal(err)
	}
	if got := f.push.Take(a2.ConnID); len(got) != 1 || got[0]["room"] != "bar" || got[0]["state"] != "stop" {
		t.Fatalf("alice's device got %v", got)
	}
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("the typist got its own typing: %v", got)
	}
	_, err = f.svc.Typing(ctx, a1, chat.TypingInput{To: "01890000-0000-7000-8000-000000000000", State: chat.TypingStart})
	wantCode(t, err, chat.ErrNotFound)
	_, err = f.svc.Typing(ctx, a1, chat.TypingInput{To: bob.UserID, State: "maybe"})
	wantCode(t, err, chat.ErrBadRequest)
	// A flood is dropped silently past the typing limit, and sends are
	// not counted against it.
	f.advance(time.Minute)
	n := 0
	for range 20 {
		if ok, err := f.svc.Typing(ctx, c1, chat.TypingInput{To: bob.UserID, State: chat.TypingStart}); err == nil && ok {
			n++
		}
	}
	if n != chat.DefaultTypingBurst {
		t.Fatalf("%d typing frames relayed out of a burst of 20, want %d", n, chat.DefaultTypingBurst)
	}
	f.sendPrivate(c1, bob, "still allowed to send", "")
}

func TestAvatarReachesPeersAndRoomMates(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol, dan := f.register("alice"), f.register("bob"), f.register("carol"), f.register("dan")
	a1, b1, c1, d1 := f.connect(alice, "a1"), f.connect(bob, "b1"), f.connect(carol, "c1"), f.connect(dan, "d1")
	a2 := f.connect(alice, "a2")
	f.sendPrivate(a1, bob, "hi", "")
	for _, c := range []chat.Call{a1, c1} {
		f.join(c, "pub")
	}
	for _, c := range []chat.Call{b1, c1, a2} {
		f.push.Take(c.ConnID)
	}
	if _, err := f.svc.SetAvatar(ctx, a1.Sender(), "🐱"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chat.Call{b1, c1, a2} {
		got := f.push.Take(c.ConnID)
		if len(got) != 1 || got[0]["type"] != "avatar-updated" || got[0]["avatar"] != "🐱" || got[0]["userId"] != alice.UserID {
			t.Fatalf("%s got %v", c.ConnID, got)
		}
	}
	if got := f.push.Take(d1.ConnID); len(got) != 0 {
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
		if _, err := f.svc.SetAvatar(ctx, a1.Sender(), fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.SetAvatar(ctx, a1.Sender(), "one too many")
	wantCode(t, err, chat.ErrRateLimited)
	f.advance(time.Second)
	if _, err := f.svc.SetAvatar(ctx, a1.Sender(), "later"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

// A function built without a port it does not use still serves what it
// does; a use case that needs the missing port fails as internal.
func TestServiceWithoutOptionalPorts(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := chat.NewService(chat.Config{Store: store, Limiter: memlimit.New(), Pusher: testenv.NewPusher(), Encoder: edge.Wire{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(t.Context(), "a.b.c"); err == nil || errors.Is(err, chat.ErrUnauthorized) {
		t.Fatalf("Authenticate without Tokens: %v, want an internal error", err)
	}
	if err := svc.Connect(t.Context(), chat.Call{ConnID: "c"}, nil); err != nil {
		t.Fatalf("Connect needs no tokens: %v", err)
	}
	if _, err := chat.NewService(chat.Config{Store: store}); err == nil {
		t.Fatal("NewService without a limiter, pusher and encoder")
	}
}
