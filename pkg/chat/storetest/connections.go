package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/testenv"
)

var connectionTests = []storeTest{
	{"Anonymous", testConnectAnonymous},
	{"Devices", testConnectDevices},
	{"Disconnect", testDisconnect},
	{"Expired", testConnectionExpired},
	{"DisconnectLeavesRooms", testDisconnectLeavesRooms},
	{"Forget", testForget},
	{"Targets", testTargets},
	{"ConcurrentConnects", testConcurrentConnects},
}

// connLife is a little over API Gateway's 2 h connection limit, as the
// domain sets it.
const connLife = 2*time.Hour + 10*time.Minute

// newConn is a fresh connection of u (anonymous for a zero user).
func newConn(u chat.User) chat.Connection {
	at := now()
	return chat.Connection{
		ConnID: "c-" + uuid.NewString()[:13], UserID: u.UserID, Username: u.Username,
		ConnectedAt: at, ExpiresAt: at.Add(connLife),
	}
}

func connect(t *testing.T, s chat.Store, c chat.Connection, wantFirst bool) {
	t.Helper()
	first, err := s.Connect(t.Context(), c)
	must(t, err, "Connect "+c.ConnID)
	if first != wantFirst {
		t.Fatalf("Connect %s: first %t, want %t", c.ConnID, first, wantFirst)
	}
}

func getConn(t *testing.T, s chat.Store, id string) chat.Connection {
	t.Helper()
	c, err := s.GetConnection(t.Context(), id)
	must(t, err, "GetConnection "+id)
	return c
}

func peer(t *testing.T, s chat.Store, u chat.User) chat.Peer {
	t.Helper()
	ps, err := s.Peers(t.Context(), []string{u.UserID})
	must(t, err, "Peers")
	return ps[u.UserID]
}

func testConnectAnonymous(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	anon := newConn(chat.User{})
	connect(t, s, anon, false)
	c := getConn(t, s, anon.ConnID)
	if c.Authenticated() || len(c.Siblings) != 0 || !c.ExpiresAt.Equal(anon.ExpiresAt) {
		t.Fatalf("GetConnection of an anonymous connection = %+v", c)
	}

	id := chat.Identity{UserID: alice.UserID, Username: alice.Username}
	got, first, err := s.Authenticate(ctx, anon.ConnID, id)
	must(t, err, "Authenticate")
	if !first || got.UserID != alice.UserID || got.Username != alice.Username {
		t.Fatalf("Authenticate: %+v, first %t; want alice's, first", got, first)
	}
	c = getConn(t, s, anon.ConnID)
	if c.Identity() != id {
		t.Fatalf("GetConnection after Authenticate speaks for %+v, want %+v", c.Identity(), id)
	}
	wantConnIDs(t, c.Siblings, "siblings after Authenticate", anon.ConnID)
	wantConnIDs(t, peer(t, s, alice).Conns, "alice's connections", anon.ConnID)

	// Again for the same user is harmless; for another is refused.
	_, first, err = s.Authenticate(ctx, anon.ConnID, id)
	must(t, err, "Authenticate again")
	if first {
		t.Fatal("Authenticate again: first true")
	}
	_, _, err = s.Authenticate(ctx, anon.ConnID, chat.Identity{UserID: bob.UserID, Username: bob.Username})
	wantErr(t, err, chat.ErrForbidden, "Authenticate as someone else")
	wantConnIDs(t, peer(t, s, bob).Conns, "bob's connections after a refused Authenticate")
	_, _, err = s.Authenticate(ctx, "c-nowhere", id)
	wantErr(t, err, chat.ErrNotFound, "Authenticate of an unknown connection")
	_, err = s.GetConnection(ctx, "c-nowhere")
	wantErr(t, err, chat.ErrNotFound, "GetConnection of an unknown connection")
}

func testConnectDevices(t *testing.T, s chat.Store) {
	alice := newUser("alice")
	createUsers(t, s, alice)
	phone, laptop := newConn(alice), newConn(alice)
	connect(t, s, phone, true)
	connect(t, s, laptop, false)
	// Every connection of a user knows the others, the earlier one too.
	wantConnIDs(t, getConn(t, s, phone.ConnID).Siblings, "the phone's siblings", phone.ConnID, laptop.ConnID)
	wantConnIDs(t, getConn(t, s, laptop.ConnID).Siblings, "the laptop's siblings", phone.ConnID, laptop.ConnID)
	p := peer(t, s, alice)
	wantConnIDs(t, p.Conns, "alice's connections", phone.ConnID, laptop.ConnID)
	if !p.Online() || !p.LastSeen.Equal(laptop.ConnectedAt) {
		t.Fatalf("alice online %t, last seen %v; want online, last seen %v", p.Online(), p.LastSeen, laptop.ConnectedAt)
	}
	for _, tg := range p.Conns {
		if tg.UserID != alice.UserID || !tg.ExpiresAt.Equal(phone.ExpiresAt) && !tg.ExpiresAt.Equal(laptop.ExpiresAt) {
			t.Fatalf("target %+v: want alice's, with its connection's expiry", tg)
		}
	}
}

func testDisconnect(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	phone, laptop, anon := newConn(alice), newConn(alice), newConn(chat.User{})
	connect(t, s, phone, true)
	connect(t, s, laptop, false)
	connect(t, s, anon, false)

	c, last, left, err := s.Disconnect(ctx, phone.ConnID)
	must(t, err, "Disconnect")
	if c.ConnID != phone.ConnID || c.UserID != alice.UserID || last || len(left) != 0 {
		t.Fatalf("Disconnect of one of two: %+v, last %t, left %+v", c, last, left)
	}
	wantConnIDs(t, getConn(t, s, laptop.ConnID).Siblings, "the laptop's siblings after the phone left", laptop.ConnID)
	_, err = s.GetConnection(ctx, phone.ConnID)
	wantErr(t, err, chat.ErrNotFound, "GetConnection after Disconnect")
	_, _, _, err = s.Disconnect(ctx, phone.ConnID)
	wantErr(t, err, chat.ErrNotFound, "Disconnect twice")

	before := now()
	_, last, _, err = s.Disconnect(ctx, laptop.ConnID)
	must(t, err, "Disconnect of the last")
	if !last {
		t.Fatal("Disconnect of the last connection: last false")
	}
	p := peer(t, s, alice)
	if p.Online() || p.LastSeen.Before(before.Add(-time.Second)) {
		t.Fatalf("after the last disconnect: online %t, last seen %v (want offline, about %v)", p.Online(), p.LastSeen, before)
	}
	c, last, _, err = s.Disconnect(ctx, anon.ConnID)
	must(t, err, "Disconnect of an anonymous connection")
	if c.Authenticated() || last {
		t.Fatalf("Disconnect of an anonymous connection: %+v, last %t", c, last)
	}
}

// expired is a connection whose $disconnect never came.
func expired(u chat.User) chat.Connection {
	c := newConn(u)
	c.ConnectedAt = c.ConnectedAt.Add(-connLife - time.Minute)
	c.ExpiresAt = c.ConnectedAt.Add(connLife)
	return c
}

func testConnectionExpired(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	old := expired(alice)
	connect(t, s, old, false)
	_, err := s.GetConnection(ctx, old.ConnID)
	wantErr(t, err, chat.ErrNotFound, "GetConnection of an expired connection")
	wantConnIDs(t, peer(t, s, alice).Conns, "live connections of a user with only an expired one")

	// The user comes online with a new one: first, whatever lingers.
	fresh := newConn(alice)
	connect(t, s, fresh, true)
	wantConnIDs(t, getConn(t, s, fresh.ConnID).Siblings, "siblings leave out the expired", fresh.ConnID)
	// Its last disconnect is the last, expired ones notwithstanding.
	_, last, _, err := s.Disconnect(ctx, fresh.ConnID)
	must(t, err, "Disconnect")
	if !last {
		t.Fatal("Disconnect of the last live connection: last false")
	}
}

func testDisconnectLeavesRooms(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	ca, cb := newConn(alice), newConn(bob)
	connect(t, s, ca, true)
	connect(t, s, cb, true)
	ida, idb := identity(alice), identity(bob)
	for _, room := range []string{"bar", "cafe"} {
		_, _, err := s.JoinRoom(ctx, room, ida)
		must(t, err, "JoinRoom alice")
	}
	r, _, err := s.JoinRoom(ctx, "cafe", idb)
	must(t, err, "JoinRoom bob")
	epochs := map[string]string{"cafe": r.Epoch, "bar": getRoom(t, s, "bar").Epoch}

	_, last, left, err := s.Disconnect(ctx, ca.ConnID)
	must(t, err, "Disconnect")
	if !last || len(left) != 2 {
		t.Fatalf("last disconnect of a user seated in two rooms: last %t, left %+v", last, left)
	}
	for _, l := range left {
		if l.Freed.UserID != alice.UserID || l.Room.SeatOf(alice.UserID) >= 0 || l.Room.Epoch != epochs[l.Room.Name] {
			t.Fatalf("left %s: freed %+v, room %+v", l.Room.Name, l.Freed, l.Room)
		}
		wantConnIDs(t, l.Freed.Conns, "the freed seat's connections", ca.ConnID)
		if l.Room.Name == "cafe" {
			wantConnIDs(t, l.Room.Targets(), "who is left in the cafe", cb.ConnID)
		}
	}
	if r := getRoom(t, s, "bar"); r.Version != 0 || r.Epoch != "" || !r.Empty() {
		t.Fatalf("bar after its only member went offline: %+v, want no records", r)
	}
	if r := getRoom(t, s, "cafe"); r.SeatOf(alice.UserID) >= 0 || r.SeatOf(bob.UserID) < 0 {
		t.Fatalf("cafe after alice went offline: %+v", r)
	}
	// Offline, she sits nowhere: a new connection does not bring seats back.
	connect(t, s, newConn(alice), true)
	if getRoom(t, s, "cafe").SeatOf(alice.UserID) >= 0 {
		t.Fatal("a new connection brought back a seat")
	}
}

func testForget(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	dead, alive := newConn(alice), newConn(alice)
	connect(t, s, dead, true)
	connect(t, s, alive, false)
	_, _, err := s.JoinRoom(ctx, "bar", identity(alice))
	must(t, err, "JoinRoom")

	last, left, err := s.Forget(ctx, alice.UserID, []string{dead.ConnID})
	must(t, err, "Forget one of two")
	if last || len(left) != 0 {
		t.Fatalf("Forget one of two: last %t, left %+v", last, left)
	}
	_, err = s.GetConnection(ctx, dead.ConnID)
	wantErr(t, err, chat.ErrNotFound, "GetConnection of a forgotten connection")
	wantConnIDs(t, getRoom(t, s, "bar").Targets(), "the seat's connections after Forget", alive.ConnID)

	// A connection whose record is already gone (its $disconnect ran
	// elsewhere, say) is still taken off its user.
	_, _, _, err = s.Disconnect(ctx, alive.ConnID)
	must(t, err, "Disconnect")
	last, _, err = s.Forget(ctx, alice.UserID, []string{alive.ConnID})
	must(t, err, "Forget of a connection already gone")
	if last {
		t.Fatal("Forget after the user was already offline: last true again")
	}

	// The ghost-seat case: the only connection died without a $disconnect.
	bob := newUser("bob")
	createUsers(t, s, bob)
	ghost := newConn(bob)
	connect(t, s, ghost, true)
	_, _, err = s.JoinRoom(ctx, "bar", identity(bob))
	must(t, err, "JoinRoom")
	last, left, err = s.Forget(ctx, bob.UserID, []string{ghost.ConnID})
	must(t, err, "Forget the only connection")
	if !last || len(left) != 1 || left[0].Freed.UserID != bob.UserID {
		t.Fatalf("Forget the only connection: last %t, left %+v", last, left)
	}
	if getRoom(t, s, "bar").SeatOf(bob.UserID) >= 0 {
		t.Fatal("the ghost's seat is still taken")
	}
}

func testTargets(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	createUsers(t, s, alice, bob, carol)
	ca, cb1, cb2, cc := newConn(alice), newConn(bob), newConn(bob), newConn(carol)
	connect(t, s, ca, true)
	connect(t, s, cb1, true)
	connect(t, s, cb2, false)
	connect(t, s, cc, true)
	_, _, err := s.JoinRoom(ctx, "bar", identity(carol))
	must(t, err, "JoinRoom")
	got, err := s.Targets(ctx, []string{bob.UserID, newUserID()}, []string{"bar", "empty"})
	must(t, err, "Targets")
	wantConnIDs(t, got, "Targets of bob and the bar", cb1.ConnID, cb2.ConnID, cc.ConnID)
}

func testConcurrentConnects(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	createUsers(t, s, alice)
	const n = 6
	conns := make([]chat.Connection, n)
	firsts := make([]bool, n)
	errs := make([]error, n)
	for i := range conns {
		conns[i] = newConn(alice)
	}
	testenv.Race(n, func(i int) { firsts[i], errs[i] = s.Connect(ctx, conns[i]) })
	ids := make([]string, n)
	nFirst := 0
	for i := range n {
		must(t, errs[i], "Connect")
		ids[i] = conns[i].ConnID
		if firsts[i] {
			nFirst++
		}
	}
	if nFirst != 1 {
		t.Fatalf("%d connections at once of an offline user: %d said first, want exactly 1", n, nFirst)
	}
	wantConnIDs(t, peer(t, s, alice).Conns, "alice's connections", ids...)
	// Every connection ends up knowing every other.
	for _, c := range conns {
		wantConnIDs(t, getConn(t, s, c.ConnID).Siblings, "siblings of "+c.ConnID, ids...)
	}
}

func identity(u chat.User) chat.Identity {
	return chat.Identity{UserID: u.UserID, Username: u.Username}
}
