package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// fakeServer is a scripted WebSocket server, for what the real one never
// does on demand: stale updates, duplicate pushes, silence, refusals.
type fakeServer struct {
	srv      *httptest.Server
	conns    atomic.Int32
	refuse   atomic.Bool // answer handshakes with 401
	mu       sync.Mutex
	frames   []protocol.Request // every client frame, in order
	requests []string           // every HTTP API request URI, in order
}

// emptyAPI answers as a server where nobody has said anything yet.
func emptyAPI(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/conversations":
		w.Write([]byte("[]"))
	case strings.HasSuffix(r.URL.Path, "/messages"):
		w.Write([]byte(`{"messages":[]}`))
	default:
		http.NotFound(w, r)
	}
}

// apiRequests returns the request URIs the HTTP API got, in order.
func (f *fakeServer) apiRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// newFake serves script(n, conn) on the n-th connection (from 1) and
// closes the connection when script returns.
func newFake(t *testing.T, script func(n int, c *fakeConn)) *fakeServer {
	t.Helper()
	return newFakeWithAPI(t, script, nil)
}

// newFakeWithAPI is newFake whose HTTP API (paths under /api/) api serves;
// without one, the API knows no conversation and no message.
func newFakeWithAPI(t *testing.T, script func(n int, c *fakeConn), api http.HandlerFunc) *fakeServer {
	t.Helper()
	if api == nil {
		api = emptyAPI
	}
	f := &fakeServer{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if r.Header.Get("Authorization") != "Bearer tok" || f.refuse.Load() {
				w.WriteHeader(http.StatusUnauthorized)
				json.NewEncoder(w).Encode(protocol.HTTPError{Code: protocol.CodeUnauthorized, Message: "invalid or expired token"})
				return
			}
			f.mu.Lock()
			f.requests = append(f.requests, r.URL.RequestURI())
			f.mu.Unlock()
			api(w, r)
			return
		}
		if r.URL.Query().Get("token") != "tok" || f.refuse.Load() {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		script(int(f.conns.Add(1)), &fakeConn{f: f, ws: ws})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) received() []protocol.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.frames)
}

// client returns a client of f with quick reconnects, already dialed.
func (f *fakeServer) client(t *testing.T, opts ...client.Option) (*client.Client, *recorder) {
	t.Helper()
	c, err := client.New(f.srv.URL, testOptions(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c.SetSession(protocol.Session{UserID: "me", Username: "me", Token: "tok"})
	rec := record(c)
	if err := c.Dial(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rec.waitCaughtUp(t)
	return c, rec
}

type fakeConn struct {
	f  *fakeServer
	ws *websocket.Conn
}

// read returns the next client frame; false when the connection ended.
func (c *fakeConn) read() (protocol.Request, bool) {
	_, data, err := c.ws.Read(context.Background())
	if err != nil {
		return protocol.Request{}, false
	}
	var r protocol.Request
	if err := json.Unmarshal(data, &r); err != nil {
		return protocol.Request{}, false
	}
	c.f.mu.Lock()
	c.f.frames = append(c.f.frames, r)
	c.f.mu.Unlock()
	return r, true
}

func (c *fakeConn) send(v any) {
	data, _ := json.Marshal(v)
	_ = c.ws.Write(context.Background(), websocket.MessageText, data)
}

// serve answers pings and hands other frames to other (nil: ignore them)
// until the connection ends.
func (c *fakeConn) serve(other func(protocol.Request)) {
	for {
		r, ok := c.read()
		if !ok {
			return
		}
		if r.Action == protocol.ActionPing {
			c.send(protocol.Pong{Type: protocol.TypePong, ID: r.ID})
		} else if other != nil {
			other(r)
		}
	}
}

func seats() []protocol.Seat {
	s := make([]protocol.Seat, 8)
	for i := range s {
		s[i] = protocol.Seat{Seat: i, Avatar: "🪑"}
	}
	return s
}

func TestDuplicatesAndStaleUpdatesDropped(t *testing.T) {
	m := protocol.ChatMessage{Type: protocol.TypePrivateMessage, MessageID: "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01", From: "peer", To: "me", Content: "once", At: "2025-05-20T09:14:03.127Z"}
	g := protocol.ChatMessage{Type: protocol.TypeGroupMessage, MessageID: "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e02", Room: "lobby", Msg: "hi", Uname: "peer", UserID: "peer", At: "2025-05-20T09:14:04.000Z"}
	f := newFake(t, func(n int, c *fakeConn) {
		for _, v := range []int64{3, 2, 4, 4} {
			c.send(protocol.Update{Type: protocol.TypeUpdate, Room: "lobby", Version: v, Seats: seats()})
		}
		c.send(protocol.Update{Type: protocol.TypeUpdate, Room: "other", Version: 1, Seats: seats()})
		c.send(m)
		c.send(g)
		c.send(m)
		c.send(g)
		c.send(protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: m.MessageID, ChatWith: "peer"})
		c.send(protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: m.MessageID, ChatWith: "peer"})
		c.send(map[string]string{"message": "Internal server error", "connectionId": "x", "requestId": "y"})
		c.send(map[string]string{"type": "some-future-frame"})
		c.serve(nil)
	})
	cl, rec := f.client(t)
	if err := cl.Ping(bounded(t)); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "the deletion", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.MessageDeleted); return ok }) >= 1
	})
	var versions []int64
	var kinds []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.RoomUpdate:
			versions = append(versions, e.Version)
			kinds = append(kinds, "update")
		case client.PrivateMessage:
			kinds = append(kinds, "private")
		case client.GroupMessage:
			kinds = append(kinds, "group")
		case client.MessageDeleted:
			kinds = append(kinds, "deleted")
		}
	}
	if !slices.Equal(versions, []int64{3, 4, 1}) {
		t.Fatalf("delivered versions %v, want [3 4 1]", versions)
	}
	if want := []string{"update", "update", "update", "private", "group", "deleted"}; !slices.Equal(kinds, want) {
		t.Fatalf("delivered %v, want %v", kinds, want)
	}
}

// silent reads frames, answering none, until the connection ends.
func (c *fakeConn) silent() {
	for {
		if _, ok := c.read(); !ok {
			return
		}
	}
}

func TestHeartbeatReplacesDeadSocket(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) {
		if n == 1 {
			c.silent()
			return
		}
		c.serve(nil)
	})
	_, rec := f.client(t, client.WithPingInterval(20*time.Millisecond), client.WithRequestTimeout(200*time.Millisecond))
	evs := rec.wait(t, "a reconnect", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { c, ok := ev.(client.Connected); return ok && c.Reconnect }) == 1
	})
	if count(evs, func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok }) != 1 {
		t.Fatalf("events: %s", describe(evs))
	}
	pings := slices.DeleteFunc(f.received(), func(r protocol.Request) bool { return r.Action != protocol.ActionPing || r.ID == "" })
	if len(pings) == 0 {
		t.Fatal("no ping with an id was sent")
	}
}

func TestRateLimitedSendRetriedWithSameID(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) {
		refused := 0
		c.serve(func(r protocol.Request) {
			if refused < 2 {
				refused++
				c.send(protocol.Error{Type: protocol.TypeError, ID: r.ID, Code: protocol.CodeRateLimited, Message: "slow down"})
				return
			}
			c.send(protocol.Ack{Type: protocol.TypeAck, ID: r.ID, MessageID: "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01", At: "2025-05-20T09:14:03.127Z"})
		})
	})
	cl, _ := f.client(t)
	ack, err := cl.SendPrivate(bounded(t), "peer", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if ack.MessageID != "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01" {
		t.Fatalf("ack = %+v", ack)
	}
	sends := f.received()
	if len(sends) != 3 || sends[0].ID != sends[1].ID || sends[1].ID != sends[2].ID || sends[0].Content != "hello" {
		t.Fatalf("frames = %+v, want the same send three times", sends)
	}
}

func TestRefusedErrorsAreTyped(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) {
		c.serve(func(r protocol.Request) {
			switch r.Action {
			case protocol.ActionJoinRoom:
				c.send(protocol.Full{Type: protocol.TypeFull, ID: r.ID, Room: r.Room})
			default:
				c.send(protocol.Error{Type: protocol.TypeError, ID: r.ID, Code: protocol.CodeNotFound, Message: "no such message"})
			}
		})
	})
	cl, _ := f.client(t)
	if _, err := cl.JoinRoom(bounded(t), "lobby"); !errors.Is(err, client.ErrFull) {
		t.Fatalf("join: %v", err)
	}
	err := cl.DeleteMessage(bounded(t), "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01")
	var e *client.Error
	if !errors.As(err, &e) || e.Code != protocol.CodeNotFound || e.Message != "no such message" {
		t.Fatalf("delete: %v", err)
	}
}

func TestUnansweredRequestTimesOut(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) {
		c.serve(func(protocol.Request) {}) // answers pings only
	})
	cl, _ := f.client(t, client.WithRequestTimeout(100*time.Millisecond))
	_, err := cl.SendPrivate(bounded(t), "peer", "into the void")
	if !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("send: %v", err)
	}
	var ids []string
	for _, r := range f.received() {
		if r.Action == protocol.ActionPrivateMessage {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("send ids %v: want the same id on three connections", ids)
	}
	if n := f.conns.Load(); n < 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

func TestRefusedTokenStopsTheClient(t *testing.T) {
	drop := make(chan struct{})
	f := newFake(t, func(n int, c *fakeConn) {
		go func() {
			<-drop
			c.ws.CloseNow()
		}()
		c.silent()
	})
	cl, rec := f.client(t)
	f.refuse.Store(true)
	sent := make(chan error, 1)
	go func() {
		_, err := cl.SendPrivate(context.Background(), "peer", "hello")
		sent <- err
	}()
	waitUntil(t, "the send to be written", func() bool { return len(f.received()) == 1 })
	close(drop)
	err := receive(t, "the pending send", sent)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != protocol.CodeUnauthorized {
		t.Fatalf("pending send: %v", err)
	}
	rec.wait(t, "the events channel to close", func([]client.Event) bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.closed
	})
	evs := rec.snapshot()
	last, ok := evs[len(evs)-1].(client.Disconnected)
	if !ok || !last.Final || !errors.As(last.Err, &e) {
		t.Fatalf("last event = %#v", evs[len(evs)-1])
	}
	if _, err := cl.SendPrivate(bounded(t), "peer", "again"); !errors.As(err, &e) {
		t.Fatalf("send after the stop: %v", err)
	}
}

func TestClose(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) { c.silent() })
	cl, rec := f.client(t)
	sent := make(chan error, 1)
	go func() {
		_, err := cl.SendPrivate(context.Background(), "peer", "hello")
		sent <- err
	}()
	waitUntil(t, "the send to be written", func() bool { return len(f.received()) == 1 })
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, "the pending send", sent); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("pending send: %v", err)
	}
	rec.wait(t, "the events channel to close", func([]client.Event) bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.closed
	})
	if err := cl.Ping(bounded(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("ping after close: %v", err)
	}
	if err := cl.Dial(bounded(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("dial after close: %v", err)
	}
}

func TestContextBoundsACall(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) { c.serve(func(protocol.Request) {}) })
	cl, _ := f.client(t)
	ctx, cancel := context.WithCancel(bounded(t))
	go func() {
		waitUntil(t, "the send to be written", func() bool { return len(f.received()) >= 1 })
		cancel()
	}()
	if _, err := cl.SendPrivate(ctx, "peer", "hello"); !errors.Is(err, context.Canceled) {
		t.Fatalf("send: %v", err)
	}
}

func TestDialSessionContext(t *testing.T) {
	f := newFake(t, func(n int, c *fakeConn) { c.serve(nil) })
	cl, err := client.New(f.srv.URL, testOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(bounded(t)); !errors.Is(err, client.ErrNotDialed) {
		t.Fatalf("ping before dial: %v", err)
	}
	if err := cl.Dial(bounded(t)); !errors.Is(err, client.ErrNoToken) {
		t.Fatalf("dial without a token: %v", err)
	}
	cl.SetSession(protocol.Session{Token: "wrong"})
	var e *client.Error
	if err := cl.Dial(bounded(t)); !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("dial with a bad token: %v", err)
	}
	cl.SetSession(protocol.Session{Token: "tok"})
	ctx, cancel := context.WithCancel(context.Background())
	if err := cl.Dial(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Ping(bounded(t)); err != nil {
		t.Fatal(err)
	}
	cancel() // ends the session
	waitUntil(t, "the session to end", func() bool { return errors.Is(cl.Ping(bounded(t)), client.ErrClosed) })
	if err := cl.Ping(bounded(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ping after the session's context ended: %v", err)
	}
	if _, open := <-cl.Events(); open {
		for range cl.Events() {
		}
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://host", "127.0.0.1:8080", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := client.New("http://127.0.0.1:1", client.WithWebSocketURL("http://x/ws")); err == nil {
		t.Error("a WebSocket URL of scheme http was accepted")
	}
}

// privateMsg is a message from peer to me with seq in their conversation.
func privateMsg(seq int64, content string) protocol.ChatMessage {
	return protocol.ChatMessage{
		Type: protocol.TypePrivateMessage, MessageID: uuid.Must(uuid.NewV7()).String(),
		From: "peer", FromName: "peer", To: "me", Content: content, Seq: seq,
		At: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
}

// conversationWith is the GET /api/conversations answer of one
// conversation with peer whose last message is last.
func conversationWith(last protocol.ChatMessage) []protocol.ConversationInfo {
	return []protocol.ConversationInfo{{Peer: protocol.PeerInfo{UserInfo: protocol.UserInfo{UserID: "peer", Username: "peer"}}, LastMessage: &last}}
}

// TestCatchUpOrdersMissedBeforeLive holds a live message that arrives
// during catch-up until the missed one before it is delivered.
func TestCatchUpOrdersMissedBeforeLive(t *testing.T) {
	seen, missed, live := privateMsg(1, "seen live"), privateMsg(2, "missed"), privateMsg(3, "live after the reconnect")
	var reconnected atomic.Bool
	dropFirst, pushed := make(chan struct{}), make(chan struct{})
	api := func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/conversations" && !reconnected.Load():
			json.NewEncoder(w).Encode([]protocol.ConversationInfo{})
		case r.URL.Path == "/api/conversations":
			json.NewEncoder(w).Encode(conversationWith(missed))
		case r.URL.Path == "/api/conversations/peer/messages":
			// Answer only once the live message is on its way, so that it
			// is sure to arrive during catch-up.
			select {
			case <-pushed:
			case <-time.After(waitTimeout):
			}
			json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{missed}})
		default:
			http.NotFound(w, r)
		}
	}
	f := newFakeWithAPI(t, func(n int, c *fakeConn) {
		if n == 1 {
			c.send(seen)
			go func() {
				<-dropFirst
				reconnected.Store(true)
				c.ws.CloseNow()
			}()
			c.serve(nil)
			return
		}
		c.send(live)
		close(pushed)
		c.serve(nil)
	}, api)
	_, rec := f.client(t)
	rec.waitPrivate(t, seen.MessageID)
	close(dropFirst)
	evs := rec.wait(t, "catch-up", func(evs []client.Event) bool {
		_, ok := reconnectCatchUp(evs)
		return ok
	})
	var order []string
	for _, m := range private(evs) {
		order = append(order, m.Content)
	}
	if want := []string{"seen live", "missed", "live after the reconnect"}; !slices.Equal(order, want) {
		t.Fatalf("delivered %q, want %q", order, want)
	}
	if m := private(evs); !m[1].CatchUp || m[2].CatchUp {
		t.Fatalf("CatchUp marks wrong: %s", describe(evs))
	}
	if c, _ := reconnectCatchUp(evs); c.Messages != 1 || c.Err != nil {
		t.Fatalf("CaughtUp = %+v", c)
	}
	// Exactly the missing one, after the last message held.
	want := "/api/conversations/peer/messages?after=" + seen.MessageID + "&limit=1"
	if got := historyRequests(f); !slices.Equal(got, []string{want}) {
		t.Fatalf("history requests %q, want [%q]", got, want)
	}
}

// historyRequests returns the history requests f's API got.
func historyRequests(f *fakeServer) []string {
	return slices.DeleteFunc(f.apiRequests(), func(r string) bool { return !strings.Contains(r, "/messages") })
}

// TestSendTellsLastSeq: a private send carries the newest seq the client
// holds of the conversation: none at first, then its own ack's, then a
// pushed message's, then one past a hole.
func TestSendTellsLastSeq(t *testing.T) {
	pushed := make(chan struct{})
	f := newFake(t, func(n int, c *fakeConn) {
		seq := int64(0)
		c.serve(func(r protocol.Request) {
			seq++
			c.send(protocol.Ack{Type: protocol.TypeAck, ID: r.ID, MessageID: fmt.Sprintf("0196f3b0-1a2b-7c3d-8e4f-%012d", seq), At: "2025-05-20T09:14:03.127Z", Seq: seq})
			switch seq {
			case 2:
				seq++
				c.send(protocol.ChatMessage{Type: protocol.TypePrivateMessage, MessageID: fmt.Sprintf("0196f3b0-1a2b-7c3d-8e4f-%012d", seq), Seq: seq, From: "peer", To: "me", Content: "hi", At: "2025-05-20T09:14:04.000Z"})
				close(pushed)
			case 4:
				seq += 2 // past a hole
				c.send(protocol.ChatMessage{Type: protocol.TypePrivateMessage, MessageID: fmt.Sprintf("0196f3b0-1a2b-7c3d-8e4f-%012d", seq), Seq: seq, From: "peer", To: "me", Content: "later", At: "2025-05-20T09:14:05.000Z"})
			}
		})
	})
	cl, rec := f.client(t)
	for i := range 2 {
		if _, err := cl.SendPrivate(bounded(t), "peer", fmt.Sprint("send ", i)); err != nil {
			t.Fatal(err)
		}
	}
	<-pushed
	rec.wait(t, "the pushed message", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.PrivateMessage); return ok }) == 1
	})
	if _, err := cl.SendPrivate(bounded(t), "peer", "send 2"); err != nil {
		t.Fatal(err)
	}
	// The message past the hole is held back, not shown: the pong, which
	// follows it on the socket, says it has been read.
	if err := cl.Ping(bounded(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SendPrivate(bounded(t), "peer", "send 3"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.received() {
		if r.Action == protocol.ActionPrivateMessage {
			if r.LastSeq == nil {
				got = append(got, "none")
			} else {
				got = append(got, fmt.Sprint(*r.LastSeq))
			}
		}
	}
	if want := []string{"none", "1", "3", "6"}; !slices.Equal(got, want) {
		t.Fatalf("lastSeq of the sends %v, want %v", got, want)
	}
}
