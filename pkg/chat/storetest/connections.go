package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
)

var connectionTests = []storeTest{
	{"PutGetDelete", testConnectionPutGetDelete},
	{"Replace", testConnectionReplace},
	{"Expired", testConnectionExpired},
	{"ConnectionsOf", testConnectionsOf},
}

// connLife is a little over API Gateway's 2 h connection limit, as the
// domain sets it.
const connLife = 2*time.Hour + 10*time.Minute

func newConn(userID, username string) chat.Connection {
	at := now()
	return chat.Connection{
		ConnID:      "c-" + uuid.NewString(),
		UserID:      userID,
		Username:    username,
		ConnectedAt: at,
		ExpiresAt:   at.Add(connLife),
	}
}

// expiredConn is a connection whose $disconnect never came.
func expiredConn(userID, username string) chat.Connection {
	c := newConn(userID, username)
	c.ConnectedAt = c.ConnectedAt.Add(-connLife - time.Minute)
	c.ExpiresAt = c.ConnectedAt.Add(connLife)
	return c
}

func putConns(t *testing.T, s chat.Store, cs ...chat.Connection) {
	t.Helper()
	for _, c := range cs {
		must(t, s.PutConnection(t.Context(), c), "PutConnection "+c.ConnID)
	}
}

func testConnectionPutGetDelete(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newConn(newUserID(), "alice")
	anon := newConn("", "")
	putConns(t, s, c, anon)

	got, err := s.GetConnection(ctx, c.ConnID)
	must(t, err, "GetConnection")
	wantConn(t, got, c, "GetConnection")
	got, err = s.GetConnection(ctx, anon.ConnID)
	must(t, err, "GetConnection of an unauthenticated connection")
	wantConn(t, got, anon, "GetConnection of an unauthenticated connection")
	_, err = s.GetConnection(ctx, "c-"+uuid.NewString())
	wantErr(t, err, chat.ErrNotFound, "GetConnection of an unknown id")

	got, err = s.DeleteConnection(ctx, c.ConnID)
	must(t, err, "DeleteConnection")
	wantConn(t, got, c, "DeleteConnection returns what was deleted")
	_, err = s.GetConnection(ctx, c.ConnID)
	wantErr(t, err, chat.ErrNotFound, "GetConnection after DeleteConnection")
	_, err = s.DeleteConnection(ctx, c.ConnID)
	wantErr(t, err, chat.ErrNotFound, "DeleteConnection twice")
	cs, err := s.ConnectionsOf(ctx, c.UserID)
	must(t, err, "ConnectionsOf")
	wantConns(t, cs, nil, "ConnectionsOf after DeleteConnection")

	got, err = s.DeleteConnection(ctx, anon.ConnID)
	must(t, err, "DeleteConnection of an unauthenticated connection")
	wantConn(t, got, anon, "DeleteConnection of an unauthenticated connection")
}

// testConnectionReplace: a connection is put once at $connect and again when
// it logs in; every view must follow the latest version.
func testConnectionReplace(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob := newUserID(), newUserID()
	c := newConn("", "")
	putConns(t, s, c)
	cs, err := s.ConnectionsOf(ctx, alice)
	must(t, err, "ConnectionsOf")
	wantConns(t, cs, nil, "ConnectionsOf before login")

	c.UserID, c.Username = alice, "alice"
	putConns(t, s, c)
	got, err := s.GetConnection(ctx, c.ConnID)
	must(t, err, "GetConnection after login")
	wantConn(t, got, c, "GetConnection after login")
	cs, err = s.ConnectionsOf(ctx, alice)
	must(t, err, "ConnectionsOf after login")
	wantConns(t, cs, []chat.Connection{c}, "ConnectionsOf after login")

	// Replacing with another user moves the connection: the old user no
	// longer sees it.
	c.UserID, c.Username = bob, "bob"
	putConns(t, s, c)
	cs, err = s.ConnectionsOf(ctx, alice)
	must(t, err, "ConnectionsOf(alice)")
	wantConns(t, cs, nil, "ConnectionsOf of the previous user")
	cs, err = s.ConnectionsOf(ctx, bob)
	must(t, err, "ConnectionsOf(bob)")
	wantConns(t, cs, []chat.Connection{c}, "ConnectionsOf of the new user")

	got, err = s.DeleteConnection(ctx, c.ConnID)
	must(t, err, "DeleteConnection")
	wantConn(t, got, c, "DeleteConnection returns the latest version")
	cs, err = s.ConnectionsOf(ctx, alice, bob)
	must(t, err, "ConnectionsOf after DeleteConnection")
	wantConns(t, cs, nil, "ConnectionsOf after DeleteConnection")
}

func testConnectionExpired(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUserID()
	old := expiredConn(alice, "alice")
	live := newConn(alice, "alice")
	putConns(t, s, old, live)

	_, err := s.GetConnection(ctx, old.ConnID)
	wantErr(t, err, chat.ErrNotFound, "GetConnection of an expired connection")
	cs, err := s.ConnectionsOf(ctx, alice)
	must(t, err, "ConnectionsOf")
	wantConns(t, cs, []chat.Connection{live}, "ConnectionsOf leaves out expired connections")

	// An expired connection that is replaced by a live one is live again.
	old.ExpiresAt = now().Add(connLife)
	putConns(t, s, old)
	got, err := s.GetConnection(ctx, old.ConnID)
	must(t, err, "GetConnection after renewal")
	wantConn(t, got, old, "GetConnection after renewal")
	cs, err = s.ConnectionsOf(ctx, alice)
	must(t, err, "ConnectionsOf after renewal")
	wantConns(t, cs, []chat.Connection{live, old}, "ConnectionsOf after renewal")

	// A late $disconnect still finds the record of an expired connection,
	// so that the domain can free the seats of its user.
	late := expiredConn(alice, "alice")
	putConns(t, s, late)
	got, err = s.DeleteConnection(ctx, late.ConnID)
	must(t, err, "DeleteConnection of an expired connection")
	wantConn(t, got, late, "DeleteConnection of an expired connection")
	_, err = s.DeleteConnection(ctx, late.ConnID)
	wantErr(t, err, chat.ErrNotFound, "DeleteConnection of an expired connection twice")
}

func testConnectionsOf(t *testing.T, s chat.Store) {
	ctx := t.Context()
	// The documented maximum of SeatCount+1 users, two connections each.
	users := make([]string, chat.SeatCount+1)
	var want []chat.Connection
	for i := range users {
		users[i] = newUserID()
		name := fmt.Sprintf("user%d", i)
		a, b := newConn(users[i], name), newConn(users[i], name)
		putConns(t, s, a, b)
		want = append(want, a, b)
	}
	// Connections that must never be returned: unauthenticated, expired,
	// and those of a user whose id extends a queried one.
	putConns(t, s,
		newConn("", ""),
		expiredConn(users[0], "user0"),
		newConn(users[0]+"0", "user0x"),
		newConn(newUserID(), "stranger"),
	)

	cs, err := s.ConnectionsOf(ctx, users...)
	must(t, err, "ConnectionsOf of SeatCount+1 users")
	wantConns(t, cs, want, "ConnectionsOf of SeatCount+1 users")
	cs, err = s.ConnectionsOf(ctx, users[3])
	must(t, err, "ConnectionsOf of one user")
	wantConns(t, cs, want[6:8], "ConnectionsOf of one user")
	cs, err = s.ConnectionsOf(ctx, users[0])
	must(t, err, "ConnectionsOf(users[0])")
	wantConns(t, cs, want[0:2], "ConnectionsOf of a user whose id another extends")

	cs, err = s.ConnectionsOf(ctx)
	must(t, err, "ConnectionsOf of nobody")
	wantConns(t, cs, nil, "ConnectionsOf of nobody")
	cs, err = s.ConnectionsOf(ctx, "")
	must(t, err, `ConnectionsOf("")`)
	wantConns(t, cs, nil, "ConnectionsOf never returns unauthenticated connections")
	cs, err = s.ConnectionsOf(ctx, newUserID())
	must(t, err, "ConnectionsOf of an unknown user")
	wantConns(t, cs, nil, "ConnectionsOf of an unknown user")
}
