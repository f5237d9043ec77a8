package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// quickGrace makes holes in seqs fetched soon: the tests that lose pushes
// need not wait a second each.
var quickGrace = client.WithGapGrace(20 * time.Millisecond)

// contents returns the content (or msg) of the messages delivered, marked
// "*" when they came through catch-up.
func contents(evs []client.Event) []string {
	var out []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.PrivateMessage:
			out = append(out, e.Content+star(e.CatchUp))
		case client.GroupMessage:
			out = append(out, e.Msg+star(e.CatchUp))
		}
	}
	return out
}

func star(catchUp bool) string {
	if catchUp {
		return "*"
	}
	return ""
}

// TestGapFetchedAfterGrace loses the push of seq 7 of a conversation whose
// last message was seq 5 at Dial: once the grace has passed, exactly seq
// 7 is fetched, after seq 6, and delivered before 8. A send's ack accounts
// for its seq: the message after it shows no hole.
func TestGapFetchedAfterGrace(t *testing.T) {
	base, six, seven, eight, ten := privateMsg(5, "before dial"), privateMsg(6, "six"), privateMsg(7, "seven"), privateMsg(8, "eight"), privateMsg(10, "ten")
	api := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/conversations":
			json.NewEncoder(w).Encode(conversationWith(base))
		case "/api/conversations/peer/messages":
			json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{seven}})
		default:
			http.NotFound(w, r)
		}
	}
	f := newFakeWithAPI(t, func(n int, c *fakeConn) {
		c.send(six)
		c.send(eight) // seven is lost
		c.serve(func(r protocol.Request) {
			c.send(protocol.Ack{Type: protocol.TypeAck, ID: r.ID, MessageID: uuid.Must(uuid.NewV7()).String(), At: ten.At, Seq: 9})
			c.send(ten)
		})
	}, api)
	cl, rec := f.client(t, quickGrace)
	rec.waitPrivate(t, eight.MessageID)
	if _, err := cl.SendPrivate(bounded(t), "peer", "nine"); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "ten", func(evs []client.Event) bool { return len(private(evs)) == 4 })
	if got, want := contents(evs), []string{"six", "seven*", "eight", "ten"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	want := "/api/conversations/peer/messages?after=" + six.MessageID + "&limit=1"
	if got := historyRequests(f); !slices.Equal(got, []string{want}) {
		t.Fatalf("history requests %q, want [%q]", got, want)
	}
}

// TestReorderedPushesNeedNoFetch delivers, in seq order and without a
// fetch, pushes that overtook one another within the grace.
func TestReorderedPushesNeedNoFetch(t *testing.T) {
	one, two, three := privateMsg(1, "one"), privateMsg(2, "two"), privateMsg(3, "three")
	f := newFake(t, func(n int, c *fakeConn) {
		c.send(one)
		c.send(three)
		c.send(two)
		c.serve(nil)
	})
	_, rec := f.client(t, client.WithGapGrace(time.Hour))
	evs := rec.wait(t, "three messages", func(evs []client.Event) bool { return len(private(evs)) == 3 })
	if got, want := contents(evs), []string{"one", "two", "three"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if got := historyRequests(f); len(got) != 0 {
		t.Fatalf("history was read: %q", got)
	}
}

// TestNewConversationFetchedFromItsStart: a conversation that had no
// message at Dial and whose first push is seq 3 is read from its start.
func TestNewConversationFetchedFromItsStart(t *testing.T) {
	one, two, three := privateMsg(1, "one"), privateMsg(2, "two"), privateMsg(3, "three")
	api := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/conversations":
			w.Write([]byte("[]"))
		case "/api/conversations/peer/messages":
			json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{three, two, one}})
		default:
			http.NotFound(w, r)
		}
	}
	f := newFakeWithAPI(t, func(n int, c *fakeConn) {
		c.send(three)
		c.serve(nil)
	}, api)
	_, rec := f.client(t, quickGrace)
	evs := rec.wait(t, "three messages", func(evs []client.Event) bool { return len(private(evs)) == 3 })
	if got, want := contents(evs), []string{"one*", "two*", "three"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if got, want := historyRequests(f), []string{"/api/conversations/peer/messages?limit=100"}; !slices.Equal(got, want) {
		t.Fatalf("history requests %q, want %q", got, want)
	}
}

// groupMsg is a message from peer in room of epoch with seq.
func groupMsg(room, epoch string, seq int64, msg string) protocol.ChatMessage {
	return protocol.ChatMessage{
		Type: protocol.TypeGroupMessage, MessageID: uuid.Must(uuid.NewV7()).String(), Room: room, Epoch: epoch,
		Msg: msg, Uname: "peer", UserID: "peer", Seq: seq, At: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
}

// TestRoomBaselineAndGap joins a room that already has ten messages: its
// baseline is read at once, so that the tenth (pushed while it was read)
// still comes, and a lost push after it is fetched.
func TestRoomBaselineAndGap(t *testing.T) {
	ten, eleven, twelve, thirteen := groupMsg("lobby", "e1", 10, "ten"), groupMsg("lobby", "e1", 11, "eleven"), groupMsg("lobby", "e1", 12, "twelve"), groupMsg("lobby", "e1", 13, "thirteen")
	api := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/conversations":
			w.Write([]byte("[]"))
		case r.URL.Path == "/api/rooms/lobby/messages" && r.URL.Query().Get("after") == "":
			json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{ten}, Next: ten.MessageID})
		case r.URL.Path == "/api/rooms/lobby/messages":
			json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{twelve}})
		default:
			http.NotFound(w, r)
		}
	}
	f := newFakeWithAPI(t, func(n int, c *fakeConn) {
		c.serve(func(r protocol.Request) {
			c.send(protocol.Update{Type: protocol.TypeUpdate, ID: r.ID, Room: "lobby", Epoch: "e1", Version: 3, Seats: seats()})
			c.send(ten)
			c.send(eleven)
			c.send(thirteen) // twelve is lost
		})
	}, api)
	cl, rec := f.client(t, quickGrace)
	if _, err := cl.JoinRoom(bounded(t), "lobby"); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "four messages", func(evs []client.Event) bool { return len(contents(evs)) == 4 })
	if got, want := contents(evs), []string{"ten", "eleven", "twelve*", "thirteen"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	want := []string{"/api/rooms/lobby/messages?limit=1", "/api/rooms/lobby/messages?after=" + eleven.MessageID + "&limit=1"}
	if got := historyRequests(f); !slices.Equal(got, want) {
		t.Fatalf("history requests %q, want %q", got, want)
	}
}

// TestNewEpochResetsRoom: frames of a new epoch drop what the client held
// for the room; versions and seqs start again.
func TestNewEpochResetsRoom(t *testing.T) {
	update := func(epoch string, version int64) protocol.Update {
		return protocol.Update{Type: protocol.TypeUpdate, Room: "lobby", Epoch: epoch, Version: version, Seats: seats()}
	}
	f := newFake(t, func(n int, c *fakeConn) {
		c.send(update("old", 5))
		c.send(groupMsg("lobby", "old", 1, "old one"))
		c.send(groupMsg("lobby", "old", 2, "old two"))
		c.send(update("new", 1))
		c.send(groupMsg("lobby", "new", 1, "new one"))
		c.send(update("new", 1)) // stale within its epoch
		c.serve(nil)
	})
	cl, rec := f.client(t)
	if err := cl.Ping(bounded(t)); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "the new epoch's message", func(evs []client.Event) bool { return len(contents(evs)) == 3 })
	var got []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.RoomUpdate:
			got = append(got, e.Epoch+" v"+string(rune('0'+e.Version)))
		case client.RoomReset:
			got = append(got, "reset "+e.Room+" "+e.Epoch)
		case client.GroupMessage:
			got = append(got, e.Msg)
		}
	}
	want := []string{"old v5", "old one", "old two", "reset lobby new", "new v1", "new one"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if got := historyRequests(f); len(got) != 0 {
		t.Fatalf("history was read: %q", got)
	}
}

// TestLostPushIsFetched loses, between the real server and bob, the push
// of the second of three messages: bob fetches exactly that one.
func TestLostPushIsFetched(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, _ := user(t, s.srv.URL, "alice")
	bob, bobEvents := user(t, r.url(), "bob", quickGrace)
	aliceID, bobID := alice.Session().UserID, bob.Session().UserID
	r.dropFrames(func(frame []byte) bool { return bytes.Contains(frame, []byte(`"content":"two"`)) })
	r.requests()
	var acks []protocol.Ack
	for _, text := range []string{"one", "two", "three"} {
		ack, err := alice.SendPrivate(bounded(t), bobID, text)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	evs := bobEvents.wait(t, "three messages", func(evs []client.Event) bool { return len(private(evs)) == 3 })
	if got, want := contents(evs), []string{"one", "two*", "three"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if m := private(evs)[1]; m.MessageID != acks[1].MessageID || m.Seq != acks[1].Seq {
		t.Fatalf("fetched %+v, want the message of %+v", m, acks[1])
	}
	want := "GET /api/conversations/" + aliceID + "/messages?after=" + acks[0].MessageID + "&limit=1"
	if got := r.requests(); !slices.Equal(got, []string{want}) {
		t.Fatalf("requests %q, want [%q]", got, want)
	}
	if n := count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }); n != 0 {
		t.Fatalf("bob was disconnected: %s", describe(evs))
	}
}

// TestRoomCatchUpAfterReconnect takes alice offline while bob, who keeps
// the room alive, talks there: when she is back and seated again, she gets
// what was said meanwhile, fetched after the last message she held.
func TestRoomCatchUpAfterReconnect(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, aliceEvents := user(t, r.url(), "alice")
	bob, _ := user(t, s.srv.URL, "bob")
	ctx := bounded(t)
	for _, c := range []*client.Client{alice, bob} {
		if _, err := c.JoinRoom(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	before, err := bob.SendGroup(ctx, "lobby", "before")
	if err != nil {
		t.Fatal(err)
	}
	aliceEvents.wait(t, "the first message", func(evs []client.Event) bool { return slices.Contains(contents(evs), "before") })
	r.refuse.Store(true)
	r.cut()
	aliceEvents.wait(t, "alice's disconnect", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }) == 1
	})
	// Bob sees alice leave: from then on she is not seated.
	waitUntil(t, "alice's seat to be freed", func() bool {
		info, err := bob.Room(ctx, "lobby")
		return err == nil && countSeated(info.Seats) == 1
	})
	for _, text := range []string{"while away 1", "while away 2"} {
		if _, err := bob.SendGroup(ctx, "lobby", text); err != nil {
			t.Fatal(err)
		}
	}
	r.requests()
	r.refuse.Store(false)
	evs := aliceEvents.wait(t, "catch-up", func(evs []client.Event) bool {
		_, ok := reconnectCatchUp(evs)
		return ok
	})
	if got, want := contents(evs), []string{"before", "while away 1*", "while away 2*"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if c, _ := reconnectCatchUp(evs); c.Messages != 2 || c.Err != nil {
		t.Fatalf("CaughtUp = %+v", c)
	}
	want := "GET /api/rooms/lobby/messages?after=" + before.MessageID + "&limit=100"
	if got := slices.DeleteFunc(r.requests(), func(r string) bool { return !strings.Contains(r, "/rooms/") }); !slices.Equal(got, []string{want}) {
		t.Fatalf("room requests %q, want [%q]", got, want)
	}
	if n := count(evs, func(ev client.Event) bool { _, ok := ev.(client.RoomReset); return ok }); n != 0 {
		t.Fatalf("the room was reset: %s", describe(evs))
	}
	live, err := bob.SendGroup(ctx, "lobby", "live")
	if err != nil {
		t.Fatal(err)
	}
	evs = aliceEvents.wait(t, "the live message", func(evs []client.Event) bool { return slices.Contains(contents(evs), "live") })
	if g := evs[len(evs)-1].(client.GroupMessage); g.MessageID != live.MessageID || g.Seq != live.Seq {
		t.Fatalf("last event = %+v, want the live message", g)
	}
}

// TestNewEpochAfterRoomEmptied cuts alice, alone in a room: the server
// deletes the room, and her re-join creates it again in a new epoch, whose
// messages start again at seq 1 and must not pass for ones already seen.
func TestNewEpochAfterRoomEmptied(t *testing.T) {
	s := newStack(t, chat.Limits{})
	r := newRelay(t, s.srv)
	alice, aliceEvents := user(t, r.url(), "alice")
	ctx := bounded(t)
	first, err := alice.JoinRoom(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	old, err := alice.SendGroup(ctx, "solo", "old epoch")
	if err != nil {
		t.Fatal(err)
	}
	aliceEvents.wait(t, "the echo", func(evs []client.Event) bool { return slices.Contains(contents(evs), "old epoch") })
	// She comes back only once the server has seen her go: a re-join
	// before that would find her seat still hers, and the room alive.
	r.refuse.Store(true)
	r.cut()
	waitUntil(t, "the room to be emptied", func() bool {
		info, err := alice.Room(ctx, "solo")
		return err == nil && countSeated(info.Seats) == 0
	})
	r.refuse.Store(false)
	evs := aliceEvents.wait(t, "the reset", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.RoomReset); return ok }) == 1
	})
	var reset client.RoomReset
	for _, ev := range evs {
		if e, ok := ev.(client.RoomReset); ok {
			reset = e
		}
	}
	if reset.Room != "solo" || reset.Epoch == "" || reset.Epoch == first.Epoch {
		t.Fatalf("RoomReset = %+v after epoch %q", reset, first.Epoch)
	}
	aliceEvents.wait(t, "the catch-up", func(evs []client.Event) bool {
		_, ok := reconnectCatchUp(evs)
		return ok
	})
	fresh, err := alice.SendGroup(ctx, "solo", "new epoch")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Seq != old.Seq || fresh.Epoch != reset.Epoch {
		t.Fatalf("ack %+v: want seq %d again, in epoch %q", fresh, old.Seq, reset.Epoch)
	}
	evs = aliceEvents.wait(t, "the new epoch's echo", func(evs []client.Event) bool { return slices.Contains(contents(evs), "new epoch") })
	if got, want := contents(evs), []string{"old epoch", "new epoch"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	// The update of the new epoch came after the reset, whatever its
	// version.
	i := slices.IndexFunc(evs, func(ev client.Event) bool { _, ok := ev.(client.RoomReset); return ok })
	if !slices.ContainsFunc(evs[i:], func(ev client.Event) bool { u, ok := ev.(client.RoomUpdate); return ok && u.Epoch == reset.Epoch }) {
		t.Fatalf("no update of the new epoch after the reset: %s", describe(evs))
	}
}

// historyAPI serves msgs (seq 1..n of the conversation with peer) as the
// server does: pages newest first, after and before cursors that must be
// ids of the history, at most 100 a page.
func historyAPI(t *testing.T, msgs []protocol.ChatMessage, conversations func() []protocol.ConversationInfo) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/conversations" {
			json.NewEncoder(w).Encode(conversations())
			return
		}
		q := r.URL.Query()
		limit := 50
		if l := q.Get("limit"); l != "" {
			fmt.Sscan(l, &limit)
		}
		seqOf := func(id string) int {
			i := slices.IndexFunc(msgs, func(m protocol.ChatMessage) bool { return m.MessageID == id })
			if i < 0 {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(protocol.HTTPError{Code: protocol.CodeBadRequest, Message: "cursor"})
			}
			return i
		}
		if limit < 1 || limit > 100 {
			t.Errorf("history asked for %d messages", limit)
		}
		lo, hi := 0, len(msgs) // the page is msgs[lo:hi], taken from the end unless after
		page := protocol.MessagePage{}
		switch {
		case q.Get("after") != "":
			i := seqOf(q.Get("after"))
			if i < 0 {
				return
			}
			lo, hi = i+1, min(i+1+limit, len(msgs))
			if hi < len(msgs) {
				page.Next = msgs[hi-1].MessageID
			}
		case q.Get("before") != "":
			i := seqOf(q.Get("before"))
			if i < 0 {
				return
			}
			lo, hi = max(i-limit, 0), i
			if lo > 0 {
				page.Next = msgs[lo].MessageID
			}
		default:
			lo = max(hi-limit, 0)
			if lo > 0 {
				page.Next = msgs[lo].MessageID
			}
		}
		page.Messages = slices.Clone(msgs[lo:hi])
		slices.Reverse(page.Messages)
		json.NewEncoder(w).Encode(page)
	}
}

// TestAnyOrderAnyLoss pushes a conversation's messages shuffled and loses
// a fifth of them, then cuts the connection: whatever the order and the
// losses, every message must be delivered once, in seq order, the holes
// that later messages show fetched after the grace, the rest after the
// reconnect.
func TestAnyOrderAnyLoss(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 1))
			const n = 150
			var msgs []protocol.ChatMessage
			for i := range n {
				msgs = append(msgs, privateMsg(int64(i+1), fmt.Sprint(i+1)))
			}
			var listed atomic.Bool
			cut := make(chan struct{})
			conversations := func() []protocol.ConversationInfo {
				if !listed.Load() {
					return []protocol.ConversationInfo{}
				}
				return conversationWith(msgs[n-1])
			}
			f := newFakeWithAPI(t, func(conn int, c *fakeConn) {
				if conn == 1 {
					go c.serve(nil)
					for _, i := range rnd.Perm(n) {
						// The last one is always lost: only the reconnect
						// can tell.
						if rnd.IntN(5) > 0 && i < n-1 {
							c.send(msgs[i])
						}
					}
					<-cut
					return
				}
				c.serve(nil)
			}, historyAPI(t, msgs, conversations))
			_, rec := f.client(t, quickGrace)
			// The holes later messages show are fetched after the grace
			// (with the last one, when the first one was lost too: then
			// history is read back from its newest message); else only
			// the reconnect can tell the last one is missing.
			evs := rec.wait(t, "all but the last", func(evs []client.Event) bool { return len(private(evs)) >= n-1 })
			lastMissed := len(private(evs)) == n-1
			listed.Store(true)
			close(cut)
			evs = rec.wait(t, "every message", func(evs []client.Event) bool { return len(private(evs)) >= n })
			var seqs []int64
			for _, m := range private(evs) {
				seqs = append(seqs, m.Seq)
			}
			for i, s := range seqs {
				if s != int64(i+1) {
					t.Fatalf("delivered seqs %v", seqs)
				}
			}
			fetched := 0
			for _, m := range private(evs) {
				if m.CatchUp {
					fetched++
				}
			}
			reqs := historyRequests(f)
			last := "/api/conversations/peer/messages?after=" + msgs[n-2].MessageID + "&limit=1"
			if fetched < 2 || (lastMissed && reqs[len(reqs)-1] != last) {
				t.Fatalf("%d fetched by %q; want the last fetched by %q", fetched, reqs, last)
			}
		})
	}
}
