package client_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// TestPresenceResubscribedAfterReconnect: a subscription lives with its
// connection on the server, so the client must subscribe again after a
// reconnect, and report the state it finds then.
func TestPresenceResubscribedAfterReconnect(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, aliceEvents := user(t, r.url(), "alice")
	bob, _ := user(t, s.srv.URL, "bob")
	bobID := bob.Session().UserID
	ctx := bounded(t)

	state, err := alice.SubscribePresence(ctx, bobID, "01a1a1a1-0000-7000-8000-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(state, func(a, b protocol.PresenceInfo) int { return cmpBool(a.Online, b.Online) })
	if len(state) != 2 || !state[1].Online || state[1].UserID != bobID || state[1].LastSeen == nil || state[0].Online || state[0].LastSeen != nil {
		t.Fatalf("presence state = %+v", state)
	}
	r.cut()
	aliceEvents.wait(t, "bob's presence after the reconnect", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { p, ok := ev.(client.Presence); return ok && p.UserID == bobID && p.Online }) == 1
	})
	bob.Close()
	evs := aliceEvents.wait(t, "bob going offline", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { p, ok := ev.(client.Presence); return ok && p.UserID == bobID && !p.Online }) == 1
	})
	if count(evs, func(ev client.Event) bool { c, ok := ev.(client.Connected); return ok && c.Reconnect }) != 1 {
		t.Fatalf("alice did not reconnect once: %s", describe(evs))
	}
	if err := alice.UnsubscribePresence(ctx, bobID); err != nil {
		t.Fatal(err)
	}
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// TestTypingRelayed: starts and stops reach the peer, in a conversation
// and in a room, once per start; a message ends its sender's typing.
func TestTypingRelayed(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, _ := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	ctx := bounded(t)
	typing := func(evs []client.Event) []string {
		var out []string
		for _, ev := range evs {
			if e, ok := ev.(client.Typing); ok && e.From == aliceID {
				out = append(out, e.To+e.Room+" "+e.State)
			}
		}
		return out
	}
	if err := alice.Typing(ctx, client.Target{To: bobID}, true); err != nil {
		t.Fatal(err)
	}
	if err := alice.Typing(ctx, client.Target{To: bobID}, true); err != nil { // still typing: sends nothing
		t.Fatal(err)
	}
	if err := alice.Typing(ctx, client.Target{To: bobID}, false); err != nil {
		t.Fatal(err)
	}
	bobEvents.wait(t, "alice's typing", func(evs []client.Event) bool {
		return slices.Equal(typing(evs), []string{bobID + " start", bobID + " stop"})
	})
	for _, c := range []*client.Client{alice, bob} {
		if _, err := c.JoinRoom(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.Typing(ctx, client.Target{Room: "lobby"}, true); err != nil {
		t.Fatal(err)
	}
	bobEvents.wait(t, "alice typing in the room", func(evs []client.Event) bool { return len(typing(evs)) == 3 })
	if _, err := alice.SendGroup(ctx, "lobby", "done typing"); err != nil {
		t.Fatal(err)
	}
	evs := bobEvents.wait(t, "the message", func(evs []client.Event) bool { return slices.Contains(contents(evs), "done typing") })
	if got, want := typing(evs), []string{bobID + " start", bobID + " stop", "lobby start", "lobby stop"}; !slices.Equal(got, want) {
		t.Fatalf("typing events %q, want %q", got, want)
	}
	if err := alice.Typing(ctx, client.Target{}, true); err == nil {
		t.Fatal("typing to nowhere was accepted")
	}
}

// TestTypingExpires: a start not renewed within 6 s ends with an expired
// stop; a renewed one does not.
func TestTypingExpires(t *testing.T) {
	clk := &client.FakeClock{}
	start := func(from string) protocol.Typing {
		return protocol.Typing{Type: protocol.TypeTyping, From: from, Username: from, To: "me", State: client.TypingStart}
	}
	pushes := make(chan protocol.Typing)
	f := newFake(t, func(n int, c *fakeConn) {
		go func() {
			for p := range pushes {
				c.send(p)
			}
		}()
		c.serve(nil)
	})
	_, rec := f.client(t, client.WithClock(clk))
	// marker proves that every event before it was received.
	marker := func(name string) []client.Event {
		pushes <- start(name)
		return rec.wait(t, name, func(evs []client.Event) bool {
			return slices.ContainsFunc(evs, func(ev client.Event) bool { e, ok := ev.(client.Typing); return ok && e.From == name })
		})
	}
	peerTyping := func(evs []client.Event) []string {
		var out []string
		for _, ev := range evs {
			if e, ok := ev.(client.Typing); ok && e.From == "peer" {
				out = append(out, e.State+map[bool]string{true: " expired"}[e.Expired])
			}
		}
		return out
	}
	pushes <- start("peer")
	marker("m1")
	clk.Advance(4 * time.Second)
	pushes <- start("peer") // renewed: the indicator lasts until 10 s
	marker("m2")
	clk.Advance(4 * time.Second)
	if got := peerTyping(marker("m3")); !slices.Equal(got, []string{"start"}) {
		t.Fatalf("after 8 s with a start at 4 s: %q", got)
	}
	clk.Advance(2 * time.Second)
	if got := peerTyping(marker("m4")); !slices.Equal(got, []string{"start", "stop expired"}) {
		t.Fatalf("after 10 s: %q", got)
	}
	close(pushes)
}

// TestTypingRepeatsWhileTyping: a start is sent again every 3 s until
// stop, and a send ends it with a stop first.
func TestTypingRepeatsWhileTyping(t *testing.T) {
	clk := &client.FakeClock{}
	f := newFake(t, func(n int, c *fakeConn) {
		c.serve(func(r protocol.Request) {
			if r.Action == protocol.ActionPrivateMessage {
				c.send(protocol.Ack{Type: protocol.TypeAck, ID: r.ID, MessageID: "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01", At: "2025-05-20T09:14:03.127Z", Seq: 1})
			}
		})
	})
	cl, _ := f.client(t, client.WithClock(clk))
	ctx := bounded(t)
	// frames returns what the fake got, once everything written so far
	// has arrived (a ping is answered after it).
	frames := func() []string {
		if err := cl.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range f.received() {
			switch r.Action {
			case protocol.ActionTyping:
				if r.ID != "" {
					t.Errorf("typing frame with an id: %+v", r)
				}
				out = append(out, r.State)
			case protocol.ActionPrivateMessage:
				out = append(out, "message")
			}
		}
		return out
	}
	peer := client.Target{To: "peer"}
	if err := cl.Typing(ctx, peer, true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if err := cl.Typing(ctx, peer, true); err != nil {
		t.Fatal(err)
	}
	if got := frames(); !slices.Equal(got, []string{"start"}) {
		t.Fatalf("after 2 s: %q", got)
	}
	clk.Advance(4 * time.Second)
	if got := frames(); !slices.Equal(got, []string{"start", "start", "start"}) {
		t.Fatalf("after 6 s: %q", got)
	}
	if _, err := cl.SendPrivate(ctx, "peer", "hi"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if got := frames(); !slices.Equal(got, []string{"start", "start", "start", "stop", "message"}) {
		t.Fatalf("after the message: %q", got)
	}
}

// TestMarkRead: the reader's marker reaches the sender as a Read event
// and shows in both parties' conversations.
func TestMarkRead(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, aliceEvents := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	ctx := bounded(t)
	ack, err := alice.SendPrivate(ctx, bobID, "read me")
	if err != nil {
		t.Fatal(err)
	}
	bobEvents.waitPrivate(t, ack.MessageID)
	convs, err := bob.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 || convs[0].Unread != 1 || convs[0].ReadUpTo != nil || !convs[0].Peer.Online || convs[0].Peer.LastSeen == nil {
		t.Fatalf("bob's conversations before reading = %+v", convs)
	}
	if err := bob.MarkRead(ctx, aliceID, ack.MessageID); err != nil {
		t.Fatal(err)
	}
	aliceEvents.wait(t, "the read receipt", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool {
			r, ok := ev.(client.Read)
			return ok && r.By == bobID && r.ChatWith == bobID && r.MessageID == ack.MessageID && r.At != ""
		}) == 1
	})
	convs, err = alice.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 || convs[0].PeerReadUpTo == nil || *convs[0].PeerReadUpTo != ack.MessageID {
		t.Fatalf("alice's conversations = %+v", convs)
	}
	if err := bob.MarkRead(ctx, aliceID, "01a1a1a1-0000-7000-8000-000000000000"); !client.IsCode(err, protocol.CodeNotFound) {
		t.Fatalf("marking a message of no conversation: %v", err)
	}
}

// TestUploadAvatar uploads an image avatar end to end: the peer is told,
// and the avatarUrl everyone sees leads, without a token, to the image.
func TestUploadAvatar(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, _ := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, s.srv.URL, "bob")
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	ctx := bounded(t)
	if _, err := alice.SendPrivate(ctx, bobID, "a conversation, so that bob is told"); err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 2, 2))
	pic.Set(0, 0, color.RGBA{R: 255, A: 255})
	if err := png.Encode(&img, pic); err != nil {
		t.Fatal(err)
	}
	if err := alice.UploadAvatar(ctx, "me.png", "image/png", img.Bytes()); err != nil {
		t.Fatal(err)
	}
	var told client.AvatarUpdated
	bobEvents.wait(t, "the avatar", func(evs []client.Event) bool {
		for _, ev := range evs {
			if a, ok := ev.(client.AvatarUpdated); ok && a.UserID == aliceID && a.AvatarURL != nil {
				told = a
				return true
			}
		}
		return false
	})
	convs, err := bob.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 || convs[0].Peer.AvatarURL == nil || *convs[0].Peer.AvatarURL != *told.AvatarURL {
		t.Fatalf("bob's conversations = %+v, told %q", convs, *told.AvatarURL)
	}
	link, err := bob.ResolveURL(*told.AvatarURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, img.Bytes()) {
		t.Fatalf("GET %s: %d, %d bytes (%v), want the %d uploaded", link, resp.StatusCode, len(got), err, img.Len())
	}
	if err := alice.UploadAvatar(ctx, "me.txt", "text/plain", []byte("not an image")); !client.IsCode(err, protocol.CodeBadRequest) {
		t.Fatalf("a text avatar: %v", err)
	}
}

// TestRoomHistory reads a room's messages, for the seated only.
func TestRoomHistory(t *testing.T) {
	s := newStack(t, chat.Limits{})
	alice, _ := user(t, s.srv.URL, "alice")
	bob, _ := user(t, s.srv.URL, "bob")
	ctx := bounded(t)
	if _, err := alice.JoinRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	var acks []protocol.Ack
	for _, text := range []string{"one", "two", "three"} {
		ack, err := alice.SendGroup(ctx, "lobby", text)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	page, err := alice.RoomHistory(ctx, "lobby", client.HistoryQuery{After: acks[0].MessageID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].Msg != "three" || page.Messages[1].Seq != acks[1].Seq || page.Messages[1].Epoch != acks[1].Epoch {
		t.Fatalf("page = %+v", page)
	}
	if _, err := bob.RoomHistory(ctx, "lobby", client.HistoryQuery{}); !client.IsCode(err, protocol.CodeForbidden) {
		t.Fatalf("history of a room bob does not sit in: %v", err)
	}
}
