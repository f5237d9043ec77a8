package client_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
)

func TestPrivateChat(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, aliceEvents := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	ctx := bounded(t)

	ack, err := alice.SendPrivate(ctx, bobID, "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	if ack.Type != protocol.TypeAck || ack.MessageID == "" || ack.At == "" {
		t.Fatalf("ack = %+v", ack)
	}
	m := bobEvents.waitPrivate(t, ack.MessageID)
	if m.From != aliceID || m.To != bobID || m.Content != "hi bob" || m.At != ack.At || m.CatchUp {
		t.Fatalf("bob got %+v", m)
	}
	reply, err := bob.SendPrivate(ctx, aliceID, "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	if m := aliceEvents.waitPrivate(t, reply.MessageID); m.Content != "hi alice" || m.FromName != "bob" {
		t.Fatalf("alice got %+v", m)
	}

	_, err = alice.SendPrivate(ctx, aliceID, "to myself")
	var e *client.Error
	if !errors.As(err, &e) || e.Code != protocol.CodeBadRequest || e.Status != 0 {
		t.Fatalf("message to self: %v", err)
	}
	if _, err := alice.SendPrivate(ctx, bobID, ""); !client.IsCode(err, protocol.CodeBadRequest) {
		t.Fatalf("empty message: %v", err)
	}

	convs, err := alice.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 || convs[0].Peer.UserID != bobID || convs[0].LastMessage == nil || convs[0].LastMessage.MessageID != reply.MessageID {
		t.Fatalf("conversations = %+v", convs)
	}
	page, err := alice.History(ctx, bobID, client.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].MessageID != reply.MessageID || page.Messages[1].MessageID != ack.MessageID {
		t.Fatalf("history = %+v", page)
	}
	if _, err := alice.History(ctx, "not-an-id", client.HistoryQuery{}); !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != protocol.CodeBadRequest {
		t.Fatalf("history of a bad id: %v", err)
	}
	users, err := alice.SearchUsers(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].UserID != bobID {
		t.Fatalf("users = %+v", users)
	}

	if err := bob.DeleteMessage(ctx, ack.MessageID); !client.IsCode(err, protocol.CodeForbidden) {
		t.Fatalf("bob deleting alice's message: %v", err)
	}
	if err := alice.DeleteMessage(ctx, ack.MessageID); err != nil {
		t.Fatal(err)
	}
	bobEvents.wait(t, "message-deleted", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			d, ok := ev.(client.MessageDeleted)
			return ok && d.MessageID == ack.MessageID && d.ChatWith == aliceID
		}) == 1
	})
	if err := alice.SetAvatar(ctx, "🐳"); err != nil {
		t.Fatal(err)
	}
	bobEvents.wait(t, "avatar-updated", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			a, ok := ev.(client.AvatarUpdated)
			return ok && a.UserID == aliceID && a.Avatar == "🐳"
		}) == 1
	})
	if err := alice.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Only the first connection's Connected: nothing was lost.
	for name, r := range map[string]*recorder{"alice": aliceEvents, "bob": bobEvents} {
		evs := r.snapshot()
		if c, ok := evs[0].(client.Connected); !ok || c.Reconnect {
			t.Fatalf("%s's first event = %#v", name, evs[0])
		}
		if n := count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }); n != 0 {
			t.Fatalf("%s was disconnected: %s", name, describe(evs))
		}
	}
}

func TestRooms(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, aliceEvents := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	ctx := bounded(t)

	u, err := alice.JoinRoom(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if u.Room != "lobby" || len(u.Seats) != 8 || u.Seats[0].Username == nil || *u.Seats[0].Username != "alice" {
		t.Fatalf("join update = %+v", u)
	}
	if _, err := bob.JoinRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	aliceEvents.wait(t, "bob's join", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			n, ok := ev.(client.RoomNotice)
			return ok && n.Event == protocol.EventJoin && n.Username == "bob"
		}) == 1
	})
	ack, err := bob.SendGroup(ctx, "lobby", "hello room")
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*recorder{"alice": aliceEvents, "bob": bobEvents} {
		r.wait(t, name+"'s group message", func(evs []client.Event) bool {
			return count(evs, func(ev client.Event) bool {
				g, ok := ev.(client.GroupMessage)
				return ok && g.MessageID == ack.MessageID && g.Msg == "hello room" && g.Uname == "bob"
			}) == 1
		})
	}
	info, err := alice.Room(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if seated := countSeated(info.Seats); seated != 2 {
		t.Fatalf("room info = %+v", info)
	}
	if got := alice.Rooms(); !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("alice's rooms = %v", got)
	}
	if err := bob.LeaveRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if got := bob.Rooms(); len(got) != 0 {
		t.Fatalf("bob's rooms after leaving = %v", got)
	}
	evs := aliceEvents.wait(t, "bob's leave", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			n, ok := ev.(client.RoomNotice)
			return ok && n.Event == protocol.EventLeave && n.Username == "bob"
		}) == 1
	})
	assertVersionsGrow(t, evs)
	if _, err := bob.SendGroup(ctx, "lobby", "not seated"); !client.IsCode(err, protocol.CodeForbidden) {
		t.Fatalf("group message without a seat: %v", err)
	}
}

func TestJoinFullRoom(t *testing.T) {
	s := newStack(t, chat.Limits{})
	var clients []*client.Client
	for i := range 9 {
		c, _ := user(t, s.srv.URL, fmt.Sprintf("user%d", i))
		clients = append(clients, c)
	}
	for _, c := range clients[:8] {
		if _, err := c.JoinRoom(bounded(t), "small"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := clients[8].JoinRoom(bounded(t), "small")
	if !errors.Is(err, client.ErrFull) {
		t.Fatalf("ninth join: %v", err)
	}
	if got := clients[8].Rooms(); len(got) != 0 {
		t.Fatalf("rooms after a full answer = %v", got)
	}
}

// TestResendAfterLostAck loses the ack of a stored message: the client
// must resend it with the same id on the next connection, get the ack of
// the stored message, and the recipient must get it once.
func TestResendAfterLostAck(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, aliceEvents := user(t, r.url(), "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	bobID := bob.Session().UserID

	// Alice's frames reach the server, its answers do not.
	r.dropFrames(func([]byte) bool { return true })
	type result struct {
		ack protocol.Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		ack, err := alice.SendPrivate(context.Background(), bobID, "sent once")
		done <- result{ack, err}
	}()
	evs := bobEvents.wait(t, "the message", func(evs []client.Event) bool { return len(private(evs)) == 1 })
	stored := private(evs)[0]
	r.cut()
	r.dropFrames(func([]byte) bool { return false })
	res := receive(t, "the resent message's ack", done)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.ack.MessageID != stored.MessageID {
		t.Fatalf("ack after resend names %s, the stored message is %s", res.ack.MessageID, stored.MessageID)
	}
	// A marker proves that everything alice sent before it has arrived.
	marker, err := alice.SendPrivate(bounded(t), bobID, "marker")
	if err != nil {
		t.Fatal(err)
	}
	evs = bobEvents.wait(t, "the marker", func(evs []client.Event) bool {
		return slices.ContainsFunc(private(evs), func(m client.PrivateMessage) bool { return m.MessageID == marker.MessageID })
	})
	if got := private(evs); len(got) != 2 {
		t.Fatalf("bob got %d messages, want 2: %s", len(got), describe(evs))
	}
	if h := allHistory(t, bob, alice.Session().UserID); len(h) != 2 {
		t.Fatalf("history has %d messages, want 2", len(h))
	}
	// Alice's own message must not come back to her through catch-up.
	aliceEvs := aliceEvents.wait(t, "alice's catch-up", func(evs []client.Event) bool {
		_, ok := reconnectCatchUp(evs)
		return ok
	})
	if got := private(aliceEvs); len(got) != 0 {
		t.Fatalf("alice got her own messages back: %s", describe(aliceEvs))
	}
}

// TestCatchUp takes bob offline while alice sends him more than a page of
// messages: when he is back, exactly the missed ones must come, in order,
// once, fetched after the last message he held and no further.
func TestCatchUp(t *testing.T) {
	s := newStack(t, chat.Limits{SendRate: 1000, SendBurst: 1000})
	r := newRelay(t, s.srv)
	alice, _ := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, r.url(), "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	ctx := bounded(t)

	seen, err := alice.SendPrivate(ctx, bobID, "seen live")
	if err != nil {
		t.Fatal(err)
	}
	bobEvents.waitPrivate(t, seen.MessageID)
	r.refuse.Store(true)
	r.cut()
	bobEvents.wait(t, "bob's disconnect", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }) == 1
	})
	const missed, senders = 120, 4 // more than one page of catch-up
	var (
		mu   sync.Mutex
		want []protocol.Ack
		wg   sync.WaitGroup
	)
	for g := range senders {
		wg.Go(func() {
			for i := range missed / senders {
				ack, err := alice.SendPrivate(ctx, bobID, fmt.Sprintf("missed %d.%d", g, i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, ack)
				mu.Unlock()
			}
		})
	}
	waitGroup(t, "alice's sends", &wg)
	if t.Failed() {
		t.FailNow()
	}
	// Catch-up delivers in seq order.
	slices.SortFunc(want, func(a, b protocol.Ack) int { return cmp.Compare(a.Seq, b.Seq) })
	r.requests()
	r.refuse.Store(false)
	evs := bobEvents.wait(t, "catch-up", func(evs []client.Event) bool {
		_, ok := reconnectCatchUp(evs)
		return ok
	})
	var caught []string
	for _, m := range private(evs) {
		if m.CatchUp {
			caught = append(caught, m.MessageID)
		}
	}
	var wantIDs []string
	for _, a := range want {
		wantIDs = append(wantIDs, a.MessageID)
	}
	if !slices.Equal(caught, wantIDs) {
		t.Fatalf("caught up %d messages, want the %d missed ones in seq order", len(caught), len(want))
	}
	if n := len(private(evs)); n != missed+1 {
		t.Fatalf("bob got %d private messages, want %d", n, missed+1)
	}
	if c, _ := reconnectCatchUp(evs); c.Messages != missed || c.Err != nil {
		t.Fatalf("CaughtUp = %+v, want %d messages", c, missed)
	}
	// Exactly the missing range: after the last message held, one full
	// page, then the 20 left.
	var fetched []string
	for _, req := range r.requests() {
		if strings.Contains(req, "/messages") {
			fetched = append(fetched, req)
		}
	}
	history := "GET /api/conversations/" + aliceID + "/messages"
	wantFetch := []string{
		history + "?after=" + seen.MessageID + "&limit=100",
		history + "?after=" + want[99].MessageID + "&limit=20",
	}
	if !slices.Equal(fetched, wantFetch) {
		t.Fatalf("history requests %q, want %q", fetched, wantFetch)
	}
	// After catch-up, live delivery goes on.
	live, err := alice.SendPrivate(ctx, bobID, "live again")
	if err != nil {
		t.Fatal(err)
	}
	if m := bobEvents.waitPrivate(t, live.MessageID); m.CatchUp || m.From != aliceID || m.Seq != int64(missed+2) {
		t.Fatalf("live message after catch-up = %+v", m)
	}
}

// TestRoomRejoin cuts alice's connection: the server frees her seat, and
// the client must take one again and get the room's messages.
func TestRoomRejoin(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, aliceEvents := user(t, r.url(), "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	ctx := bounded(t)
	for _, c := range []*client.Client{alice, bob} {
		if _, err := c.JoinRoom(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	r.cut()
	bobEvents.wait(t, "alice leaving and coming back", func(evs []client.Event) bool {
		var seq []string
		for _, ev := range evs {
			if n, ok := ev.(client.RoomNotice); ok && n.Username == "alice" {
				seq = append(seq, n.Event)
			}
		}
		return slices.Equal(seq, []string{"leave", "join"})
	})
	ack, err := bob.SendGroup(ctx, "lobby", "welcome back")
	if err != nil {
		t.Fatal(err)
	}
	evs := aliceEvents.wait(t, "the group message after re-joining", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			g, ok := ev.(client.GroupMessage)
			return ok && g.MessageID == ack.MessageID
		}) == 1
	})
	if count(evs, func(ev client.Event) bool { c, ok := ev.(client.Connected); return ok && c.Reconnect }) != 1 {
		t.Fatalf("alice did not reconnect once: %s", describe(evs))
	}
	assertVersionsGrow(t, evs)
	if got := alice.Rooms(); !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("alice's rooms = %v", got)
	}
}

// TestSurvivesServerRestart is the acceptance test: two users chat
// while the server is shut down and started again on the same address and
// data dir; every message of each must reach the other exactly once, live
// or through catch-up, and be in the history exactly once.
func TestSurvivesServerRestart(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, aliceEvents := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID

	const perSide, beforeRestart = 12, 4
	type side struct {
		name    string
		c       *client.Client
		to      string
		mu      sync.Mutex
		started int
		acks    []protocol.Ack
		err     error
	}
	sides := []*side{{name: "alice", c: alice, to: bobID}, {name: "bob", c: bob, to: aliceID}}
	var wg sync.WaitGroup
	for _, sd := range sides {
		wg.Go(func() {
			for i := range perSide {
				sd.mu.Lock()
				sd.started++
				sd.mu.Unlock()
				ack, err := sd.c.SendPrivate(context.Background(), sd.to, fmt.Sprintf("%s %d", sd.name, i))
				sd.mu.Lock()
				if err != nil {
					sd.err = err
					sd.mu.Unlock()
					return
				}
				sd.acks = append(sd.acks, ack)
				sd.mu.Unlock()
			}
		})
	}
	progress := func(sd *side) (started, acked int) {
		sd.mu.Lock()
		defer sd.mu.Unlock()
		if sd.err != nil {
			return -1, -1 // ends every wait below; the error is reported after
		}
		return sd.started, len(sd.acks)
	}
	for _, sd := range sides {
		waitUntil(t, sd.name+"'s first acks", func() bool { _, a := progress(sd); return a >= beforeRestart || a < 0 })
	}

	s.shutdown()
	disconnected := func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }) >= 1
	}
	aliceEvents.wait(t, "alice's disconnect", disconnected)
	bobEvents.wait(t, "bob's disconnect", disconnected)
	// Both sides have a send under way while no server is up.
	for _, sd := range sides {
		waitUntil(t, sd.name+"'s send while down", func() bool { st, a := progress(sd); return st > a || a == perSide || a < 0 })
	}
	s.start()

	for _, sd := range sides {
		waitUntil(t, sd.name+"'s sends", func() bool { _, a := progress(sd); return a == perSide || a < 0 })
	}
	waitGroup(t, "the senders", &wg)
	for _, sd := range sides {
		if sd.err != nil {
			t.Fatalf("%s's sends: %v", sd.name, sd.err)
		}
	}
	// A marker from each side proves the other got everything sent before.
	markers := map[string]string{}
	for _, sd := range sides {
		ack, err := sd.c.SendPrivate(bounded(t), sd.to, "marker")
		if err != nil {
			t.Fatal(err)
		}
		markers[sd.name] = ack.MessageID
	}
	received := map[string]*recorder{"alice": bobEvents, "bob": aliceEvents} // by sender
	for _, sd := range sides {
		evs := received[sd.name].wait(t, sd.name+"'s marker", func(evs []client.Event) bool {
			return slices.ContainsFunc(private(evs), func(m client.PrivateMessage) bool { return m.MessageID == markers[sd.name] })
		})
		got := map[string]int{}
		for _, m := range private(evs) {
			got[m.MessageID]++
		}
		for i, ack := range sd.acks {
			if got[ack.MessageID] != 1 {
				t.Errorf("%s's message %d (%s) arrived %d times", sd.name, i, ack.MessageID, got[ack.MessageID])
			}
		}
		if len(got) != perSide+1 || len(private(evs)) != perSide+1 {
			t.Errorf("the other side of %s got %d messages (%d distinct), want %d: %s", sd.name, len(private(evs)), len(got), perSide+1, describe(evs))
		}
	}
	hist := allHistory(t, alice, bobID)
	inHistory := map[string]int{}
	for _, m := range hist {
		inHistory[m.MessageID]++
	}
	for _, sd := range sides {
		for _, ack := range sd.acks {
			if inHistory[ack.MessageID] != 1 {
				t.Errorf("history holds %s's %s %d times", sd.name, ack.MessageID, inHistory[ack.MessageID])
			}
		}
	}
	if len(hist) != 2*(perSide+1) {
		t.Errorf("history has %d messages, want %d", len(hist), 2*(perSide+1))
	}
	for name, r := range map[string]*recorder{"alice": aliceEvents, "bob": bobEvents} {
		evs := r.snapshot()
		if count(evs, func(ev client.Event) bool { c, ok := ev.(client.Connected); return ok && c.Reconnect }) < 1 {
			t.Errorf("%s never reconnected: %s", name, describe(evs))
		}
		for _, m := range private(evs) {
			if m.From == map[string]string{"alice": aliceID, "bob": bobID}[name] {
				t.Errorf("%s got her own message %s back", name, m.MessageID)
			}
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	r := &recorder{}
	r.wait(t, what, func([]client.Event) bool { return cond() })
}

func countSeated(seats []protocol.Seat) int {
	n := 0
	for _, s := range seats {
		if s.UserID != nil {
			n++
		}
	}
	return n
}

// assertVersionsGrow checks that the room updates delivered for each room
// have strictly growing versions between reconnects.
func assertVersionsGrow(t *testing.T, evs []client.Event) {
	t.Helper()
	last := map[string]int64{}
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.Connected:
			clear(last)
		case client.RoomUpdate:
			if v, ok := last[e.Room]; ok && e.Version <= v {
				t.Fatalf("room %s: version %d delivered after %d", e.Room, e.Version, v)
			}
			last[e.Room] = e.Version
		}
	}
	if len(last) == 0 && !strings.Contains(describe(evs), "RoomUpdate") {
		t.Fatalf("no room update delivered: %s", describe(evs))
	}
}
