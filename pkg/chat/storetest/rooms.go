package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

var roomTests = []storeTest{
	{"GetUnknown", testGetRoomUnknown},
	{"Join", testJoinRoom},
	{"Leave", testLeaveRoom},
	{"RoomsOf", testRoomsOf},
	{"ConcurrentJoin", testJoinConcurrent},
	{"ConcurrentRejoin", testRejoinConcurrent},
}

func seatOf(u chat.User) chat.Seat {
	return chat.Seat{UserID: u.UserID, Username: u.Username, Avatar: u.Avatar}
}

func newUsers(n int) []chat.User {
	us := make([]chat.User, n)
	for i := range us {
		us[i] = newUser(fmt.Sprintf("user%02d", i))
	}
	return us
}

// join seats u and checks that the change happened: u got seat wantSeat,
// nothing else moved, and the version grew.
func join(t *testing.T, s chat.Store, room string, u chat.User, before chat.Room, wantSeat int) chat.Room {
	t.Helper()
	r, changed, err := s.JoinRoom(t.Context(), room, seatOf(u))
	what := fmt.Sprintf("JoinRoom(%s, %s)", room, u.Username)
	must(t, err, what)
	if !changed {
		t.Fatalf("%s: changed false, want true", what)
	}
	if r.Version <= before.Version {
		t.Fatalf("%s: version %d, want more than %d", what, r.Version, before.Version)
	}
	want := before
	want.Name = room
	want.Version = r.Version
	want.Seats[wantSeat] = seatOf(u)
	wantRoom(t, r, want, what)
	got, err := s.GetRoom(t.Context(), room)
	must(t, err, "GetRoom")
	wantRoom(t, got, r, "GetRoom after "+what)
	return r
}

// leave frees u's seat and checks that nothing else moved and the version
// grew.
func leave(t *testing.T, s chat.Store, room string, u chat.User, before chat.Room) chat.Room {
	t.Helper()
	r, changed, err := s.LeaveRoom(t.Context(), room, u.UserID)
	what := fmt.Sprintf("LeaveRoom(%s, %s)", room, u.Username)
	must(t, err, what)
	if !changed {
		t.Fatalf("%s: changed false, want true", what)
	}
	if r.Version <= before.Version {
		t.Fatalf("%s: version %d, want more than %d", what, r.Version, before.Version)
	}
	want := before
	want.Version = r.Version
	want.Seats[before.SeatOf(u.UserID)] = chat.Seat{}
	wantRoom(t, r, want, what)
	return r
}

func wantRoomsOf(t *testing.T, s chat.Store, u chat.User, want ...string) {
	t.Helper()
	got, err := s.RoomsOf(t.Context(), u.UserID)
	must(t, err, "RoomsOf "+u.Username)
	wantStrings(t, got, want, "RoomsOf "+u.Username)
}

func getRoom(t *testing.T, s chat.Store, name string) chat.Room {
	t.Helper()
	r, err := s.GetRoom(t.Context(), name)
	must(t, err, "GetRoom "+name)
	return r
}

func testGetRoomUnknown(t *testing.T, s chat.Store) {
	wantEmptyRoom(t, getRoom(t, s, "lobby"), "lobby", "GetRoom of a room never joined")
	wantRoomsOf(t, s, newUser("alice"))
}

func testJoinRoom(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us := newUsers(chat.SeatCount + 1)
	plain := us[1]
	plain.Avatar = ""
	us[1] = plain

	r := chat.Room{Name: "lobby"}
	for i := range chat.SeatCount {
		r = join(t, s, "lobby", us[i], r, i)
		wantRoomsOf(t, s, us[i], "lobby")
	}

	// Joining again keeps the seat as it was, even with other seat data.
	again := seatOf(us[2])
	again.Username, again.Avatar = "renamed", "🐧"
	got, changed, err := s.JoinRoom(ctx, "lobby", again)
	must(t, err, "JoinRoom of a seated user in a full room")
	if changed {
		t.Fatal("JoinRoom of a seated user: changed true, want false")
	}
	wantRoom(t, got, r, "JoinRoom of a seated user returns the room unchanged")

	_, _, err = s.JoinRoom(ctx, "lobby", seatOf(us[chat.SeatCount]))
	wantErr(t, err, chat.ErrRoomFull, "JoinRoom of a ninth user")
	wantRoom(t, getRoom(t, s, "lobby"), r, "GetRoom after a refused join")
	wantRoomsOf(t, s, us[chat.SeatCount])

	// Rooms are independent, even when one name extends another.
	wantEmptyRoom(t, getRoom(t, s, "lobby2"), "lobby2", "GetRoom of another room")
	other := join(t, s, "lobby2", us[chat.SeatCount], chat.Room{Name: "lobby2"}, 0)
	wantRoom(t, getRoom(t, s, "lobby"), r, "GetRoom after a join elsewhere")
	wantRoomsOf(t, s, us[chat.SeatCount], "lobby2")
	join(t, s, "lobby2", us[0], other, 1)
	wantRoomsOf(t, s, us[0], "lobby", "lobby2")
}

func testLeaveRoom(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us := newUsers(6)

	r := chat.Room{Name: "lobby"}
	for i := range 3 {
		r = join(t, s, "lobby", us[i], r, i)
	}
	r = leave(t, s, "lobby", us[1], r)
	wantRoom(t, getRoom(t, s, "lobby"), r, "GetRoom after a leave")
	wantRoomsOf(t, s, us[1])
	wantRoomsOf(t, s, us[0], "lobby")

	// Leaving without a seat changes nothing.
	got, changed, err := s.LeaveRoom(ctx, "lobby", us[1].UserID)
	must(t, err, "LeaveRoom twice")
	if changed {
		t.Fatal("LeaveRoom twice: changed true, want false")
	}
	wantRoom(t, got, r, "LeaveRoom twice returns the room unchanged")
	got, changed, err = s.LeaveRoom(ctx, "nowhere", us[0].UserID)
	must(t, err, "LeaveRoom of a room never joined")
	if changed {
		t.Fatal("LeaveRoom of a room never joined: changed true, want false")
	}
	wantEmptyRoom(t, got, "nowhere", "LeaveRoom of a room never joined")
	wantEmptyRoom(t, getRoom(t, s, "nowhere"), "nowhere", "GetRoom after leaving a room never joined")

	// The freed seat is the first free one, so the next joiner takes it.
	r = join(t, s, "lobby", us[3], r, 1)
	r = join(t, s, "lobby", us[4], r, 3)

	// When the last member leaves, the room is gone.
	for _, u := range []chat.User{us[0], us[4], us[3], us[2]} {
		r = leave(t, s, "lobby", u, r)
	}
	wantEmptyRoom(t, getRoom(t, s, "lobby"), "lobby", "GetRoom after the last member left")
	for _, u := range us {
		wantRoomsOf(t, s, u)
	}

	// And the next join creates it again.
	join(t, s, "lobby", us[5], chat.Room{Name: "lobby"}, 0)
	wantRoomsOf(t, s, us[5], "lobby")
}

func testRoomsOf(t *testing.T, s chat.Store) {
	us := newUsers(2)
	alice, bob := us[0], us[1]
	// bobx's id extends bob's, so a sloppy prefix range would mix them.
	bobx := newUser("bobx")
	bobx.UserID = bob.UserID + "0"
	rooms := map[string]chat.Room{}
	enter := func(room string, u chat.User, seat int) {
		t.Helper()
		rooms[room] = join(t, s, room, u, rooms[room], seat)
	}
	enter("a", bob, 0)
	enter("b", bob, 0)
	enter("c", bob, 0)
	enter("b", alice, 1)
	enter("d", bobx, 0)
	wantRoomsOf(t, s, bob, "a", "b", "c")
	wantRoomsOf(t, s, alice, "b")
	wantRoomsOf(t, s, bobx, "d")

	rooms["b"] = leave(t, s, "b", bob, rooms["b"])
	wantRoomsOf(t, s, bob, "a", "c")
	wantRoomsOf(t, s, alice, "b")
}

func testJoinConcurrent(t *testing.T, s chat.Store) {
	const n = 64
	ctx := t.Context()
	us := newUsers(n)
	type result struct {
		r       chat.Room
		changed bool
		err     error
	}
	results := make([]result, n)
	race(len(us), func(i int) {
		r, changed, err := s.JoinRoom(ctx, "lobby", seatOf(us[i]))
		results[i] = result{r, changed, err}
	})

	winners := map[string]bool{}
	versions := map[int64]string{}
	full := 0
	for i, res := range results {
		switch {
		case errors.Is(res.err, chat.ErrRoomFull):
			full++
		case res.err != nil:
			t.Fatalf("JoinRoom %d: %v", i, res.err)
		case !res.changed:
			t.Fatalf("JoinRoom %d: changed false for a user who was not seated", i)
		default:
			winners[us[i].UserID] = true
			if res.r.SeatOf(us[i].UserID) < 0 {
				t.Fatalf("JoinRoom %d: returned room %+v does not seat the joiner", i, res.r)
			}
			if prev, dup := versions[res.r.Version]; dup {
				t.Fatalf("JoinRoom: %s and %s both got version %d", prev, us[i].Username, res.r.Version)
			}
			versions[res.r.Version] = us[i].Username
		}
	}
	if len(winners) != chat.SeatCount || full != n-chat.SeatCount {
		t.Fatalf("JoinRoom by %d users at once: %d seated and %d refused, want %d and %d",
			n, len(winners), full, chat.SeatCount, n-chat.SeatCount)
	}

	r := getRoom(t, s, "lobby")
	seated := map[string]bool{}
	for i, seat := range r.Seats {
		if seat.UserID == "" {
			t.Fatalf("GetRoom: seat %d is empty in a full room", i)
		}
		if seated[seat.UserID] {
			t.Fatalf("GetRoom: %s holds two seats", seat.Username)
		}
		if !winners[seat.UserID] {
			t.Fatalf("GetRoom: seat %d holds %s, whose join was refused", i, seat.Username)
		}
		seated[seat.UserID] = true
	}
	for v := range versions {
		if v > r.Version {
			t.Fatalf("GetRoom: version %d is below the version %d a join returned", r.Version, v)
		}
	}
	for _, u := range us {
		if winners[u.UserID] {
			wantRoomsOf(t, s, u, "lobby")
		} else {
			wantRoomsOf(t, s, u)
		}
	}
}

// testRejoinConcurrent: one user joining from many connections at once
// gets one seat.
func testRejoinConcurrent(t *testing.T, s chat.Store) {
	const n = 16
	ctx := t.Context()
	u := newUser("alice")
	changed := make([]bool, n)
	seats := make([]int, n)
	errs := make([]error, n)
	race(n, func(i int) {
		var r chat.Room
		r, changed[i], errs[i] = s.JoinRoom(ctx, "lobby", seatOf(u))
		seats[i] = r.SeatOf(u.UserID)
	})
	count := 0
	for i := range n {
		must(t, errs[i], fmt.Sprintf("JoinRoom %d", i))
		if changed[i] {
			count++
		}
		if seats[i] != 0 {
			t.Fatalf("JoinRoom %d: the user holds seat %d, want 0", i, seats[i])
		}
	}
	if count != 1 {
		t.Fatalf("JoinRoom by one user %d times at once: %d changes, want 1", n, count)
	}
	r := getRoom(t, s, "lobby")
	if m := r.Members(); len(m) != 1 || r.SeatOf(u.UserID) != 0 {
		t.Fatalf("GetRoom: %+v, want the user on seat 0 only", r)
	}
	wantRoomsOf(t, s, u, "lobby")
}
