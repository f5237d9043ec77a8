package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

var userTests = []storeTest{
	{"CreateAndFind", testCreateAndFind},
	{"UsernameTaken", testUsernameTaken},
	{"Search", testSearchUsers},
	{"SetAvatar", testSetAvatar},
}

func testCreateAndFind(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)

	got, err := s.UserByName(ctx, alice.Username)
	must(t, err, "UserByName")
	if got.UserID != alice.UserID || got.Username != alice.Username || got.PasswordHash != alice.PasswordHash {
		t.Fatalf("UserByName = %+v, want id, name and password hash of %+v", got, alice)
	}
	_, err = s.UserByName(ctx, "nobody_here")
	wantErr(t, err, chat.ErrNotFound, "UserByName of an unknown name")

	peers, err := s.Peers(ctx, []string{alice.UserID, newUserID()})
	must(t, err, "Peers")
	if len(peers) != 1 {
		t.Fatalf("Peers of one user and one unknown id: %d found, want 1", len(peers))
	}
	p := peers[alice.UserID]
	wantUser(t, p.User, public(alice), "Peers shows the user without their password hash")
	if p.Online() || !p.LastSeen.IsZero() {
		t.Fatalf("a user who never connected: online %t, last seen %v", p.Online(), p.LastSeen)
	}
}

func testUsernameTaken(t *testing.T, s chat.Store) {
	alice := newUser("alice")
	createUsers(t, s, alice)
	again := newUser("other")
	again.Username = alice.Username
	wantErr(t, s.CreateUser(t.Context(), again), chat.ErrConflict, "CreateUser with a taken name")
	// Names are unique as spelled.
	upper := newUser("x")
	upper.Username = "ALICE" + alice.Username[5:]
	must(t, s.CreateUser(t.Context(), upper), "CreateUser of the name in other case")
	// The refused user was not created.
	peers, err := s.Peers(t.Context(), []string{again.UserID})
	must(t, err, "Peers")
	if len(peers) != 0 {
		t.Fatalf("the user refused for a taken name exists: %+v", peers)
	}
}

func testSearchUsers(t *testing.T, s chat.Store) {
	ctx := t.Context()
	var names []string
	for i := range 5 {
		u := newUser("x")
		u.Username = fmt.Sprintf("zoe%d", 4-i)
		createUsers(t, s, u)
		names = append(names, u.Username)
	}
	other := newUser("x")
	other.Username = "zed"
	createUsers(t, s, other)
	slices.Sort(names)

	got, err := s.SearchUsers(ctx, "zoe", 10)
	must(t, err, "SearchUsers")
	var gotNames []string
	for _, u := range got {
		if u.PasswordHash != "" {
			t.Fatalf("SearchUsers shows a password hash: %+v", u)
		}
		gotNames = append(gotNames, u.Username)
	}
	if !slices.Equal(gotNames, names) {
		t.Fatalf("SearchUsers(zoe) = %q, want %q in order", gotNames, names)
	}
	got, err = s.SearchUsers(ctx, "zoe", 2)
	must(t, err, "SearchUsers with a limit")
	if len(got) != 2 || got[0].Username != names[0] || got[1].Username != names[1] {
		t.Fatalf("SearchUsers(zoe, 2) = %+v, want the first two of %q", got, names)
	}
	got, err = s.SearchUsers(ctx, "", 10)
	must(t, err, "SearchUsers with no prefix")
	if len(got) != 6 || got[0].Username != "zed" {
		t.Fatalf("SearchUsers of everyone: %d users, first %+v; want 6, zed first", len(got), got)
	}
}

func testSetAvatar(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	id := chat.Identity{UserID: alice.UserID, Username: alice.Username}

	u, rooms, err := s.SetAvatar(ctx, id, "🐧", "", "")
	must(t, err, "SetAvatar of a text avatar")
	want := public(alice)
	want.Avatar = "🐧"
	wantUser(t, u, want, "SetAvatar returns the user")
	if len(rooms) != 0 {
		t.Fatalf("SetAvatar of a user seated nowhere: rooms %q", rooms)
	}

	_, _, err = s.JoinRoom(ctx, "lobby", id)
	must(t, err, "JoinRoom")
	u, rooms, err = s.SetAvatar(ctx, id, "🐧", "avatars/a/v1", "v1")
	must(t, err, "SetAvatar of an image")
	want.AvatarKey, want.AvatarVersion = "avatars/a/v1", "v1"
	wantUser(t, u, want, "SetAvatar with an image")
	if !slices.Equal(rooms, []string{"lobby"}) {
		t.Fatalf("SetAvatar of a user seated in lobby: rooms %q", rooms)
	}
	// The seat shows the new image at once, not from the next join on.
	r, err := s.GetRoom(ctx, "lobby")
	must(t, err, "GetRoom")
	if i := r.SeatOf(alice.UserID); i < 0 || r.Seats[i].AvatarVersion != "v1" {
		t.Fatalf("alice's seat after SetAvatar of an image: %+v", r.Seats)
	}
	// A new text avatar keeps the image.
	u, _, err = s.SetAvatar(ctx, id, "🦊", "", "")
	must(t, err, "SetAvatar of a text avatar after an image")
	want.Avatar = "🦊"
	wantUser(t, u, want, "the image stays")
	peers, err := s.Peers(ctx, []string{alice.UserID})
	must(t, err, "Peers")
	wantUser(t, peers[alice.UserID].User, want, "Peers after SetAvatar")

	_, _, err = s.SetAvatar(ctx, chat.Identity{UserID: newUserID(), Username: "ghost"}, "x", "", "")
	wantErr(t, err, chat.ErrNotFound, "SetAvatar of an unknown user")
}
