package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/testenv"
)

var roomTests = []storeTest{
	{"GetUnknown", testGetRoomUnknown},
	{"JoinAndFull", testJoinRoom},
	{"SeatsCarryConnections", testSeatConnections},
	{"Leave", testLeaveRoom},
	{"Epochs", testEpochs},
	{"GroupMessages", testGroupMessages},
	{"ConcurrentJoin", testJoinConcurrent},
	{"ConcurrentRejoin", testRejoinConcurrent},
	{"ConcurrentGroupSaves", testConcurrentGroupSaves},
}

func getRoom(t *testing.T, s chat.Store, name string) chat.Room {
	t.Helper()
	r, err := s.GetRoom(t.Context(), name)
	must(t, err, "GetRoom "+name)
	return r
}

// seated creates n users, each with a live connection.
func seated(t *testing.T, s chat.Store, n int) ([]chat.User, []chat.Connection) {
	t.Helper()
	us := make([]chat.User, n)
	cs := make([]chat.Connection, n)
	for i := range us {
		us[i] = newUser(fmt.Sprintf("user%02d", i))
		createUsers(t, s, us[i])
		cs[i] = newConn(us[i])
		connect(t, s, cs[i], true)
	}
	return us, cs
}

func join(t *testing.T, s chat.Store, room string, u chat.User, wantSeat int) chat.Room {
	t.Helper()
	r, changed, err := s.JoinRoom(t.Context(), room, identity(u))
	what := fmt.Sprintf("JoinRoom(%s, %s)", room, u.Username)
	must(t, err, what)
	if !changed || r.SeatOf(u.UserID) != wantSeat || r.Seats[wantSeat].Username != u.Username {
		t.Fatalf("%s: changed %t, seat %d; want seat %d", what, changed, r.SeatOf(u.UserID), wantSeat)
	}
	got := getRoom(t, s, room)
	if got.Version != r.Version || got.Epoch != r.Epoch || !slices.Equal(got.Members(), r.Members()) {
		t.Fatalf("GetRoom after %s = %+v, want %+v", what, got, r)
	}
	return r
}

func testGetRoomUnknown(t *testing.T, s chat.Store) {
	r := getRoom(t, s, "lobby")
	if r.Name != "lobby" || r.Version != 0 || r.Epoch != "" || !r.Empty() || r.LastSeq() != 0 {
		t.Fatalf("GetRoom of a room never joined: %+v", r)
	}
}

func testJoinRoom(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us, _ := seated(t, s, chat.SeatCount+1)
	var r chat.Room
	for i := range chat.SeatCount {
		before := r.Version
		r = join(t, s, "lobby", us[i], i)
		if r.Version <= before || r.Epoch == "" {
			t.Fatalf("join %d: version %d after %d, epoch %q", i, r.Version, before, r.Epoch)
		}
	}
	got, changed, err := s.JoinRoom(ctx, "lobby", identity(us[2]))
	must(t, err, "JoinRoom of a seated user")
	if changed || got.Version != r.Version || got.SeatOf(us[2].UserID) != 2 {
		t.Fatalf("JoinRoom of a seated user: changed %t, %+v", changed, got)
	}
	full, _, err := s.JoinRoom(ctx, "lobby", identity(us[chat.SeatCount]))
	wantErr(t, err, chat.ErrRoomFull, "JoinRoom of a ninth user")
	if full.Epoch != r.Epoch {
		t.Fatalf("a full room is returned with its epoch: %q, want %q", full.Epoch, r.Epoch)
	}
	// Rooms are independent, even when one name extends another.
	if !getRoom(t, s, "lobby2").Empty() {
		t.Fatal("another room has members")
	}
	join(t, s, "lobby2", us[chat.SeatCount], 0)
}

func testSeatConnections(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	phone := newConn(alice)
	connect(t, s, phone, true)
	_, _, err := s.SetAvatar(ctx, identity(alice), "🙂", "avatars/x", "v7")
	must(t, err, "SetAvatar")
	r := join(t, s, "bar", alice, 0)
	if r.Seats[0].AvatarVersion != "v7" {
		t.Fatalf("the seat's avatar version %q, want v7", r.Seats[0].AvatarVersion)
	}
	wantConnIDs(t, r.Seats[0].Conns, "the seat's connections", phone.ConnID)
	// A device that connects later is on the seat too; one that closes
	// is not.
	laptop := newConn(alice)
	connect(t, s, laptop, false)
	wantConnIDs(t, getRoom(t, s, "bar").Targets(), "the seat after a second device", phone.ConnID, laptop.ConnID)
	if i := getRoom(t, s, "bar").SeatOfConn(laptop.ConnID); i != 0 {
		t.Fatalf("SeatOfConn(laptop) = %d, want 0", i)
	}
	_, last, _, err := s.Disconnect(ctx, phone.ConnID)
	must(t, err, "Disconnect")
	if last {
		t.Fatal("last true with the laptop still connected")
	}
	wantConnIDs(t, getRoom(t, s, "bar").Targets(), "the seat after the phone closed", laptop.ConnID)
}

func testLeaveRoom(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us, cs := seated(t, s, 4)
	for i := range 3 {
		join(t, s, "lobby", us[i], i)
	}
	before := getRoom(t, s, "lobby")
	r, freed, changed, err := s.LeaveRoom(ctx, "lobby", us[1].UserID)
	must(t, err, "LeaveRoom")
	if !changed || r.Version <= before.Version || r.SeatOf(us[1].UserID) >= 0 || r.Epoch != before.Epoch {
		t.Fatalf("LeaveRoom: changed %t, %+v", changed, r)
	}
	if freed.UserID != us[1].UserID || freed.Username != us[1].Username {
		t.Fatalf("LeaveRoom frees %+v, want %s's seat", freed, us[1].Username)
	}
	wantConnIDs(t, freed.Conns, "the freed seat's connections", cs[1].ConnID)
	// Leaving without a seat changes nothing.
	_, _, changed, err = s.LeaveRoom(ctx, "lobby", us[1].UserID)
	must(t, err, "LeaveRoom twice")
	if changed {
		t.Fatal("LeaveRoom twice: changed true")
	}
	_, _, changed, err = s.LeaveRoom(ctx, "nowhere", us[0].UserID)
	must(t, err, "LeaveRoom of a room never joined")
	if changed || !getRoom(t, s, "nowhere").Empty() {
		t.Fatal("LeaveRoom of a room never joined changed something")
	}
	// The freed seat is the first free one.
	join(t, s, "lobby", us[3], 1)
	// Her rooms no longer list it: leaving it does not come back on her
	// last disconnect.
	_, _, left, err := s.Disconnect(ctx, cs[1].ConnID)
	must(t, err, "Disconnect")
	if len(left) != 0 {
		t.Fatalf("the last disconnect of a user who left her room: left %+v", left)
	}
}

func testEpochs(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us, _ := seated(t, s, 2)
	first := join(t, s, "bar", us[0], 0).Epoch
	if join(t, s, "bar", us[1], 1).Epoch != first {
		t.Fatal("a second join changed the epoch")
	}
	for _, u := range us {
		r, _, changed, err := s.LeaveRoom(ctx, "bar", u.UserID)
		must(t, err, "LeaveRoom")
		if !changed || r.Epoch != first {
			t.Fatalf("LeaveRoom: changed %t, epoch %q (want the room's, %q, even when it empties)", changed, r.Epoch, first)
		}
	}
	if r := getRoom(t, s, "bar"); r.Epoch != "" || r.Version != 0 {
		t.Fatalf("the emptied room still has records: %+v", r)
	}
	second := join(t, s, "bar", us[1], 0).Epoch
	if second == "" || second == first {
		t.Fatalf("the room created again has epoch %q, the first had %q: want a new one", second, first)
	}
}

func draftGroup(c *clock, from chat.User, room, content, clientID string) chat.Message {
	return chat.Message{
		Kind: chat.KindGroup, From: from.UserID, FromName: from.Username, Room: room,
		Content: content, At: c.next(), ClientID: clientID,
	}
}

func saveGroup(t *testing.T, s chat.Store, m chat.Message, wantSeq int64) chat.Message {
	t.Helper()
	r := getRoom(t, s, m.Room)
	stored, created, err := s.SaveGroup(t.Context(), r, m, allow)
	must(t, err, "SaveGroup")
	if !created || stored.Seq != wantSeq || stored.Epoch != r.Epoch || stored.MessageID == "" {
		t.Fatalf("SaveGroup: created %t, seq %d, epoch %q; want seq %d in epoch %q", created, stored.Seq, stored.Epoch, wantSeq, r.Epoch)
	}
	want := m
	want.MessageID, want.Seq, want.Epoch = stored.MessageID, wantSeq, r.Epoch
	wantMessage(t, stored, want, "SaveGroup returns the message with its id, seq and epoch")
	if got := getRoom(t, s, m.Room).LastSeq(); got != wantSeq {
		t.Fatalf("GetRoom after a group message: LastSeq %d, want %d", got, wantSeq)
	}
	return stored
}

func roomMessages(t *testing.T, s chat.Store, room, epoch string, p chat.Page) []chat.Message {
	t.Helper()
	ms, err := s.RoomMessages(t.Context(), room, epoch, p)
	must(t, err, "RoomMessages")
	return ms
}

func testGroupMessages(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	us, _ := seated(t, s, 2)
	join(t, s, "bar", us[0], 0)
	join(t, s, "bar", us[1], 1)
	join(t, s, "cafe", us[1], 0)
	g1 := saveGroup(t, s, draftGroup(c, us[0], "bar", "hi all", "g1"), 1)
	g2 := saveGroup(t, s, draftGroup(c, us[1], "bar", "hello", "g1"), 2)
	other := saveGroup(t, s, draftGroup(c, us[1], "cafe", "elsewhere", ""), 1)
	epoch := getRoom(t, s, "bar").Epoch
	wantMessages(t, roomMessages(t, s, "bar", epoch, chat.Page{Limit: 10}), newest(g1, g2), "the bar's history")
	wantMessages(t, roomMessages(t, s, "bar", epoch, chat.Page{Before: g2.MessageID, Limit: 10}), newest(g1), "before g2")
	wantMessages(t, roomMessages(t, s, "bar", epoch, chat.Page{After: g1.MessageID, Limit: 10}), newest(g2), "after g1")
	_, err := s.RoomMessages(ctx, "bar", epoch, chat.Page{After: other.MessageID, Limit: 10})
	wantErr(t, err, chat.ErrBadRequest, "a cursor of another room")

	// Resends, and admit, as for private messages.
	got, created, err := s.SaveGroup(ctx, getRoom(t, s, "bar"), draftGroup(c, us[0], "bar", "again", "g1"), refuseWith(chat.ErrRateLimited))
	must(t, err, "SaveGroup of a resend")
	if created || got.MessageID != g1.MessageID {
		t.Fatalf("a group resend: created %t, %s; want g1", created, got.MessageID)
	}
	_, _, err = s.SaveGroup(ctx, getRoom(t, s, "bar"), draftGroup(c, us[0], "bar", "no", "g9"), refuseWith(chat.ErrRateLimited))
	wantErr(t, err, chat.ErrRateLimited, "SaveGroup refused by admit")

	// A new epoch starts its history and seqs afresh.
	for _, u := range us {
		_, _, _, err := s.LeaveRoom(ctx, "bar", u.UserID)
		must(t, err, "LeaveRoom")
	}
	join(t, s, "bar", us[0], 0)
	fresh := getRoom(t, s, "bar")
	if fresh.LastSeq() != 0 {
		t.Fatalf("a new epoch's LastSeq %d, want 0", fresh.LastSeq())
	}
	wantMessages(t, roomMessages(t, s, "bar", fresh.Epoch, chat.Page{Limit: 10}), nil, "a new epoch's history")
	saveGroup(t, s, draftGroup(c, us[0], "bar", "new times", ""), 1)
}

func testJoinConcurrent(t *testing.T, s chat.Store) {
	const n = 20
	ctx := t.Context()
	us, _ := seated(t, s, n)
	results := make([]chat.Room, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) { results[i], _, errs[i] = s.JoinRoom(ctx, "lobby", identity(us[i])) })
	won, full := 0, 0
	for i := range n {
		switch {
		case errs[i] == nil:
			won++
		case errors.Is(errs[i], chat.ErrRoomFull):
			full++
		default:
			t.Fatalf("JoinRoom %d: %v", i, errs[i])
		}
	}
	r := getRoom(t, s, "lobby")
	if won != chat.SeatCount || full != n-chat.SeatCount || len(r.Members()) != chat.SeatCount {
		t.Fatalf("%d joiners at once: %d won, %d full, %d seated; want 8, 12, 8", n, won, full, len(r.Members()))
	}
	seen := map[string]bool{}
	for _, m := range r.Members() {
		if seen[m] {
			t.Fatalf("user %s holds two seats", m)
		}
		seen[m] = true
	}
}

func testRejoinConcurrent(t *testing.T, s chat.Store) {
	const n = 8
	ctx := t.Context()
	us, _ := seated(t, s, 1)
	errs := make([]error, n)
	testenv.Race(n, func(i int) { _, _, errs[i] = s.JoinRoom(ctx, "lobby", identity(us[0])) })
	for i := range n {
		must(t, errs[i], "JoinRoom")
	}
	if m := getRoom(t, s, "lobby").Members(); len(m) != 1 {
		t.Fatalf("one user joining %d times at once holds %d seats", n, len(m))
	}
}

func testConcurrentGroupSaves(t *testing.T, s chat.Store) {
	const n = 12
	ctx := t.Context()
	c := newClock()
	us, _ := seated(t, s, 3)
	for i, u := range us {
		join(t, s, "bar", u, i)
	}
	r := getRoom(t, s, "bar")
	drafts := make([]chat.Message, n)
	for i := range drafts {
		drafts[i] = draftGroup(c, us[i%3], "bar", fmt.Sprint("m", i), fmt.Sprint("c", i))
	}
	stored := make([]chat.Message, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) { stored[i], _, errs[i] = s.SaveGroup(ctx, r, drafts[i], allow) })
	var got []int64
	for i := range n {
		must(t, errs[i], "SaveGroup")
		got = append(got, stored[i].Seq)
	}
	slices.Sort(got)
	for i, q := range got {
		if q != int64(i+1) {
			t.Fatalf("%d group messages at once: seqs %v, want 1..%d each once", n, got, n)
		}
	}
}
