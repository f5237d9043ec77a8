package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

var userTests = []storeTest{
	{"CreateAndLookup", testCreateAndLookup},
	{"CreateConflict", testCreateConflict},
	{"UsersByID", testUsersByID},
	{"SearchUsers", testSearchUsers},
	{"SetAvatar", testSetAvatar},
}

func newUser(username string) chat.User {
	return chat.User{
		UserID:       newUserID(),
		Username:     username,
		PasswordHash: "$2a$10$hash-of-" + username,
		Avatar:       "🐱",
		CreatedAt:    now(),
	}
}

func createUsers(t *testing.T, s chat.Store, usernames ...string) []chat.User {
	t.Helper()
	us := make([]chat.User, len(usernames))
	for i, name := range usernames {
		us[i] = newUser(name)
		must(t, s.CreateUser(t.Context(), us[i]), "CreateUser "+name)
	}
	return us
}

func testCreateAndLookup(t *testing.T, s chat.Store) {
	ctx := t.Context()
	u := createUsers(t, s, "alice")[0]
	plain := newUser("bob")
	plain.Avatar = ""
	must(t, s.CreateUser(ctx, plain), "CreateUser without avatar")

	got, err := s.UserByName(ctx, "alice")
	must(t, err, "UserByName")
	wantUser(t, got, u, "UserByName")
	got, err = s.UserByID(ctx, u.UserID)
	must(t, err, "UserByID")
	wantUser(t, got, u, "UserByID")
	got, err = s.UserByID(ctx, plain.UserID)
	must(t, err, "UserByID without avatar")
	wantUser(t, got, plain, "UserByID without avatar")

	// Lookups are exact: no case folding, no prefix match.
	for _, name := range []string{"Alice", "ALICE", "alic", "alicex"} {
		_, err = s.UserByName(ctx, name)
		wantErr(t, err, chat.ErrNotFound, "UserByName "+name)
	}
	_, err = s.UserByID(ctx, newUserID())
	wantErr(t, err, chat.ErrNotFound, "UserByID of an unknown id")
	_, err = s.UserByID(ctx, u.UserID+"0")
	wantErr(t, err, chat.ErrNotFound, "UserByID of an id that extends a known one")
}

func testCreateConflict(t *testing.T, s chat.Store) {
	ctx := t.Context()
	first := createUsers(t, s, "alice")[0]
	second := newUser("alice")
	second.Avatar = "🐶"
	wantErr(t, s.CreateUser(ctx, second), chat.ErrConflict, "CreateUser with a taken username")

	// The refused user left nothing behind.
	got, err := s.UserByName(ctx, "alice")
	must(t, err, "UserByName")
	wantUser(t, got, first, "UserByName after the conflict")
	_, err = s.UserByID(ctx, second.UserID)
	wantErr(t, err, chat.ErrNotFound, "UserByID of the refused user")
	us, err := s.SearchUsers(ctx, "alice", 10)
	must(t, err, "SearchUsers")
	if len(us) != 1 {
		t.Fatalf("SearchUsers after the conflict: got %d users %+v, want 1", len(us), us)
	}
	wantUser(t, us[0], first, "SearchUsers after the conflict")
}

func testUsersByID(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us := createUsers(t, s, "alice", "bob", "carol", "dave")
	alice, bob, carol := us[0], us[1], us[2]

	got, err := s.UsersByID(ctx, nil)
	must(t, err, "UsersByID of no ids")
	if len(got) != 0 {
		t.Fatalf("UsersByID of no ids: got %+v, want none", got)
	}

	// Missing ids are left out; a repeated id is answered once.
	ids := []string{alice.UserID, newUserID(), bob.UserID, alice.UserID, alice.UserID + "0", carol.UserID}
	got, err = s.UsersByID(ctx, ids)
	must(t, err, "UsersByID")
	if len(got) != 3 {
		t.Fatalf("UsersByID: got %d users %+v, want alice, bob and carol", len(got), got)
	}
	for _, u := range []chat.User{alice, bob, carol} {
		wantUser(t, got[u.UserID], u, "UsersByID["+u.Username+"]")
	}

	// The documented maximum of 100 ids, mostly unknown ones.
	ids = []string{bob.UserID, us[3].UserID}
	for len(ids) < 100 {
		ids = append(ids, newUserID())
	}
	got, err = s.UsersByID(ctx, ids)
	must(t, err, "UsersByID of 100 ids")
	if len(got) != 2 {
		t.Fatalf("UsersByID of 100 ids: got %d users, want 2", len(got))
	}
	wantUser(t, got[bob.UserID], bob, "UsersByID of 100 ids [bob]")
	wantUser(t, got[us[3].UserID], us[3], "UsersByID of 100 ids [dave]")
}

func testSearchUsers(t *testing.T, s chat.Store) {
	ctx := t.Context()
	byName := map[string]chat.User{}
	for _, u := range createUsers(t, s, "alicia", "bob", "al", "Alfred", "albert", "alice", "al_x", "alex.b", "zed") {
		byName[u.Username] = u
	}
	cases := []struct {
		prefix string
		limit  int
		want   []string
	}{
		// Ordered by username, byte-wise: '_' < 'b' < 'e' < 'i'.
		{"al", 10, []string{"al", "al_x", "albert", "alex.b", "alice", "alicia"}},
		{"al", 2, []string{"al", "al_x"}},
		{"ali", 10, []string{"alice", "alicia"}},
		{"alice", 10, []string{"alice"}},
		{"alicex", 10, nil},
		// The prefix is matched case-sensitively.
		{"Al", 10, []string{"Alfred"}},
		{"AL", 10, nil},
		{"x", 10, nil},
		{"zed", 1, []string{"zed"}},
		// An empty prefix matches everyone; uppercase sorts first.
		{"", 3, []string{"Alfred", "al", "al_x"}},
		{"", 100, []string{"Alfred", "al", "al_x", "albert", "alex.b", "alice", "alicia", "bob", "zed"}},
	}
	for _, c := range cases {
		what := fmt.Sprintf("SearchUsers(%q, %d)", c.prefix, c.limit)
		got, err := s.SearchUsers(ctx, c.prefix, c.limit)
		must(t, err, what)
		names := make([]string, len(got))
		for i, u := range got {
			names[i] = u.Username
		}
		if !slices.Equal(names, c.want) {
			t.Fatalf("%s: got %q, want %q", what, names, c.want)
		}
		for _, u := range got {
			wantUser(t, u, byName[u.Username], what)
		}
	}
}

func testSetAvatar(t *testing.T, s chat.Store) {
	ctx := t.Context()
	us := createUsers(t, s, "alice", "bob")
	alice, bob := us[0], us[1]

	must(t, s.SetAvatar(ctx, alice.UserID, "🐧"), "SetAvatar")
	want := alice
	want.Avatar = "🐧"

	// Every way of reading a user sees the new avatar.
	got, err := s.UserByID(ctx, alice.UserID)
	must(t, err, "UserByID")
	wantUser(t, got, want, "UserByID after SetAvatar")
	got, err = s.UserByName(ctx, "alice")
	must(t, err, "UserByName")
	wantUser(t, got, want, "UserByName after SetAvatar")
	m, err := s.UsersByID(ctx, []string{alice.UserID, bob.UserID})
	must(t, err, "UsersByID")
	wantUser(t, m[alice.UserID], want, "UsersByID after SetAvatar")
	wantUser(t, m[bob.UserID], bob, "UsersByID of the other user")
	found, err := s.SearchUsers(ctx, "alice", 1)
	must(t, err, "SearchUsers")
	if len(found) != 1 {
		t.Fatalf("SearchUsers: got %+v, want alice", found)
	}
	wantUser(t, found[0], want, "SearchUsers after SetAvatar")

	// An avatar can be cleared.
	must(t, s.SetAvatar(ctx, bob.UserID, ""), "SetAvatar to empty")
	got, err = s.UserByName(ctx, "bob")
	must(t, err, "UserByName")
	bob.Avatar = ""
	wantUser(t, got, bob, "UserByName after clearing the avatar")

	unknown := newUserID()
	wantErr(t, s.SetAvatar(ctx, unknown, "🐧"), chat.ErrNotFound, "SetAvatar of an unknown user")
	_, err = s.UserByID(ctx, unknown)
	wantErr(t, err, chat.ErrNotFound, "UserByID after SetAvatar of an unknown user")
}
