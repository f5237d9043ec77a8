package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/server"
)

// suite is what the end-to-end suite lets a backend adjust.
type suite struct {
	// joiners is how many clients race for a room's 8 seats.
	joiners int
}

// suiteOption adjusts the suite to a backend.
type suiteOption func(*suite)

// withJoiners sets how many clients race for a room's 8 seats (default
// 200).
func withJoiners(n int) suiteOption { return func(s *suite) { s.joiners = n } }

// e2e runs the end-to-end suite against stacks started with the options
// options returns (a fresh store each time).
func e2e(t *testing.T, options func(t *testing.T) server.Options, opts ...suiteOption) {
	cfg := suite{joiners: 200}
	for _, o := range opts {
		o(&cfg)
	}
	open := func(t *testing.T) *stack { return startStack(t, options(t)) }
	t.Run("PrivateChat", func(t *testing.T) { testPrivateChat(t, open(t)) })
	t.Run("IdempotentResend", func(t *testing.T) { testIdempotentResend(t, open(t)) })
	t.Run("OfflineRecipientHistory", func(t *testing.T) { testOfflineHistory(t, open(t)) })
	t.Run("SpoofedIdentityIgnored", func(t *testing.T) { testSpoofedIdentity(t, open(t)) })
	t.Run("HandshakeAuth", func(t *testing.T) { testHandshakeAuth(t, open(t)) })
	t.Run("LoginAction", func(t *testing.T) { testLoginAction(t, open(t)) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, open(t)) })
	t.Run("DeleteAndAvatar", func(t *testing.T) { testDeleteAndAvatar(t, open(t)) })
	t.Run("RoomLifecycle", func(t *testing.T) { testRoomLifecycle(t, open(t)) })
	t.Run("ConcurrentJoiners", func(t *testing.T) { testConcurrentJoiners(t, open(t), cfg.joiners) })
	t.Run("HTTPAPI", func(t *testing.T) { testHTTPAPI(t, open(t)) })
	t.Run("FileMessages", func(t *testing.T) { testFileMessages(t, open(t)) })
	t.Run("PresenceTypingRead", func(t *testing.T) { testPresenceTypingRead(t, open(t)) })
	t.Run("ImageAvatar", func(t *testing.T) { testImageAvatar(t, open(t)) })
	t.Run("GhostSeats", func(t *testing.T) {
		o := options(t)
		store := openStore(t, &o)
		testGhostSeats(t, startStack(t, o), store)
	})
}

func TestEndToEndBolt(t *testing.T) { e2e(t, boltOptions) }

// TestEndToEndConcurrentFrames runs the suite with the gateway invoking up
// to 8 frames of a connection at once, as API Gateway may: nothing the
// server or the tests do may rest on one connection's frames running in
// order.
func TestEndToEndConcurrentFrames(t *testing.T) {
	e2e(t, func(t *testing.T) server.Options {
		o := boltOptions(t)
		o.Gateway.FrameConcurrency = 8
		return o
	})
}

func testPrivateChat(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a1, a2 := s.dial(t, alice.Token), s.dial(t, alice.Token)
	b1 := s.dial(t, bob.Token)
	ack := a1.request(map[string]string{"action": "private-message", "id": "c1", "to": bob.UserID, "content": "hi bob"})
	if ack["type"] != "ack" || ack["id"] != "c1" || ack["messageId"] == nil || ack["at"] == nil {
		t.Fatalf("ack = %v", ack)
	}
	for name, c := range map[string]*client{"bob": b1, "alice's other device": a2} {
		m := c.expect("private-message")
		if m["messageId"] != ack["messageId"] || m["from"] != alice.UserID || m["to"] != bob.UserID || m["content"] != "hi bob" || m["at"] != ack["at"] {
			t.Fatalf("%s got %v", name, m)
		}
	}
	reply := b1.request(map[string]string{"action": "private-message", "to": alice.UserID, "content": "hi alice"})
	if reply["type"] != "ack" {
		t.Fatalf("bob's reply: %v", reply)
	}
	for _, c := range []*client{a1, a2} {
		if m := c.expect("private-message"); m["content"] != "hi alice" || m["from"] != bob.UserID {
			t.Fatalf("alice got %v", m)
		}
	}
	a1.sync()
	b1.sync()
}

func testIdempotentResend(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a, b := s.dial(t, alice.Token), s.dial(t, bob.Token)
	req := map[string]string{"action": "private-message", "id": "same-id", "to": bob.UserID, "content": "once"}
	first := a.request(req)
	second := a.request(req)
	if first["type"] != "ack" || second["type"] != "ack" || first["messageId"] != second["messageId"] {
		t.Fatalf("acks differ: %v vs %v", first, second)
	}
	if m := b.expect("private-message"); m["messageId"] != first["messageId"] {
		t.Fatalf("delivery = %v", m)
	}
	b.sync() // a second delivery would arrive before the pong
	var page struct{ Messages []map[string]any }
	s.call("GET", "/api/conversations/"+alice.UserID+"/messages", bob.Token, nil, &page)
	if len(page.Messages) != 1 {
		t.Fatalf("stored %d messages, want 1", len(page.Messages))
	}
}

func testOfflineHistory(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a := s.dial(t, alice.Token)
	ack := a.request(map[string]string{"action": "private-message", "to": bob.UserID, "content": "while you were out"})
	if ack["type"] != "ack" {
		t.Fatalf("ack = %v", ack)
	}
	var convs []map[string]any
	s.call("GET", "/api/conversations", bob.Token, nil, &convs)
	if len(convs) != 1 || convs[0]["unread"] != float64(1) {
		t.Fatalf("conversations = %v", convs)
	}
	var page struct {
		Messages []map[string]any
		Next     string
	}
	if st := s.call("GET", "/api/conversations/"+alice.UserID+"/messages", bob.Token, nil, &page); st != 200 {
		t.Fatalf("status %d", st)
	}
	if len(page.Messages) != 1 || page.Messages[0]["content"] != "while you were out" || page.Messages[0]["messageId"] != ack["messageId"] ||
		page.Messages[0]["type"] != "private-message" || page.Messages[0]["from"] != alice.UserID {
		t.Fatalf("history = %v", page.Messages)
	}
}

func testSpoofedIdentity(t *testing.T, s *stack) {
	alice, bob, mallory := s.register("alice"), s.register("bob"), s.register("mallory")
	m, b := s.dial(t, mallory.Token), s.dial(t, bob.Token)
	a := s.dial(t, alice.Token)
	m.request(map[string]any{"action": "private-message", "to": bob.UserID, "content": "it's alice", "from": alice.UserID, "userId": alice.UserID})
	got := b.expect("private-message")
	if got["from"] != mallory.UserID {
		t.Fatalf("spoofed sender accepted: %v", got)
	}
	for _, c := range []*client{m, a} {
		if up := c.request(map[string]string{"action": "joinroom", "room": "bar"}); up["type"] != "update" {
			t.Fatalf("join: %v", up)
		}
		c.expect("notice")
	}
	m.expect("update")
	m.expect("notice")
	// The ack comes first (it goes out once the message is stored, before
	// its delivery), then the sender's own copy.
	if ack := m.request(map[string]any{"action": "group-message", "room": "bar", "msg": "hello", "uname": "alice", "userId": alice.UserID}); ack["type"] != "ack" {
		t.Fatalf("group-message answered %v", ack)
	}
	for _, g := range []map[string]any{m.expect("group-message"), a.expect("group-message")} {
		if g["type"] != "group-message" || g["uname"] != "mallory" || g["userId"] != mallory.UserID {
			t.Fatalf("spoofed group sender accepted: %v", g)
		}
	}
}

func testHandshakeAuth(t *testing.T, s *stack) {
	for name, token := range map[string]string{"garbage": "garbage", "unsigned": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
		_, resp, err := websocket.Dial(context.Background(), s.srv.WSURL+"?token="+token, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s token: err %v, resp %v", name, err, resp)
		}
	}
	_, resp, err := websocket.Dial(context.Background(), s.srv.WSURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, resp %v", err, resp)
	}
	// Browsers offer the token as a subprotocol, which is echoed.
	alice := s.register("alice")
	conn, resp, err := websocket.Dial(context.Background(), s.srv.WSURL, &websocket.DialOptions{
		Subprotocols: []string{"minichat.v1", alice.Token},
		HTTPHeader:   http.Header{"Origin": {s.srv.URL}},
	})
	if err != nil {
		t.Fatalf("subprotocol token: %v", err)
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	if conn.Subprotocol() != "minichat.v1" || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("subprotocol = %q", conn.Subprotocol())
	}
}

func testLoginAction(t *testing.T, s *stack) {
	alice := s.register("alice")
	c := s.dial(t, "")
	if e := c.request(map[string]string{"action": "joinroom", "room": "bar", "id": "j"}); e["type"] != "error" || e["code"] != "unauthorized" || e["id"] != "j" {
		t.Fatalf("before login: %v", e)
	}
	if p := c.request(map[string]string{"action": "ping", "id": "p"}); p["type"] != "pong" || p["id"] != "p" {
		t.Fatalf("ping = %v", p)
	}
	if e := c.request(map[string]string{"action": "login", "token": "nope"}); e["code"] != "unauthorized" {
		t.Fatalf("bad login = %v", e)
	}
	ok := c.request(map[string]string{"action": "login", "token": alice.Token})
	if ok["type"] != "login-ok" || ok["userId"] != alice.UserID || ok["username"] != "alice" {
		t.Fatalf("login = %v", ok)
	}
	if up := c.request(map[string]string{"action": "joinroom", "room": "bar"}); up["type"] != "update" {
		t.Fatalf("after login: %v", up)
	}
}

func testErrors(t *testing.T, s *stack) {
	alice := s.register("alice")
	c := s.dial(t, alice.Token)
	for _, tc := range []struct {
		frame any
		code  string
	}{
		{`not json`, "bad-request"},
		{`{"id":"x"}`, "bad-request"},
		{`{"action":"dance","id":"d"}`, "unknown-action"},
		{`{"action":"private-message","to":123}`, "bad-request"},
		{map[string]string{"action": "private-message", "to": "01890000-0000-7000-8000-000000000000", "content": "x"}, "not-found"},
		{map[string]string{"action": "joinroom", "room": "no spaces"}, "bad-request"},
		{map[string]string{"action": "group-message", "room": "empty", "msg": "x"}, "forbidden"},
		{map[string]string{"action": "message-deleted", "messageId": "01890000-0000-7000-8000-000000000000"}, "not-found"},
	} {
		e := c.request(tc.frame)
		if e["type"] != "error" || e["code"] != tc.code || e["message"] == "" {
			t.Fatalf("%v: got %v, want code %s", tc.frame, e, tc.code)
		}
	}
	if e := c.request(`{"action":"dance","id":"d"}`); e["id"] != "d" {
		t.Fatalf("error does not echo id: %v", e)
	}
	c.sync() // still open: errors never close the connection
}

func testDeleteAndAvatar(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a, b := s.dial(t, alice.Token), s.dial(t, bob.Token)
	ack := a.request(map[string]string{"action": "private-message", "to": bob.UserID, "content": "regret"})
	b.expect("private-message")
	if e := b.request(map[string]any{"action": "message-deleted", "messageId": ack["messageId"]}); e["code"] != "forbidden" {
		t.Fatalf("recipient deleting: %v", e)
	}
	if r := a.request(map[string]any{"action": "message-deleted", "messageId": ack["messageId"], "id": "del"}); r["type"] != "ack" || r["id"] != "del" {
		t.Fatalf("delete = %v", r)
	}
	d := b.expect("message-deleted")
	if d["messageId"] != ack["messageId"] || d["chatWith"] != alice.UserID {
		t.Fatalf("message-deleted = %v", d)
	}
	if r := a.request(map[string]string{"action": "avatar-updated", "avatar": "🐙"}); r["type"] != "ack" {
		t.Fatalf("avatar = %v", r)
	}
	if u := b.expect("avatar-updated"); u["userId"] != alice.UserID || u["avatar"] != "🐙" {
		t.Fatalf("avatar-updated = %v", u)
	}
	var users []map[string]any
	s.call("GET", "/api/users?prefix=ali", bob.Token, nil, &users)
	if len(users) != 1 || users[0]["avatar"] != "🐙" {
		t.Fatalf("users = %v", users)
	}
}

func testRoomLifecycle(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a, b := s.dial(t, alice.Token), s.dial(t, bob.Token)
	up := a.request(map[string]string{"action": "joinroom", "room": "bar", "id": "j1"})
	if up["type"] != "update" || up["id"] != "j1" || up["room"] != "bar" {
		t.Fatalf("join = %v", up)
	}
	a.expect("notice")
	b.request(map[string]string{"action": "joinroom", "room": "bar"})
	b.expect("notice")
	up = a.expect("update")
	seats := up["seats"].([]any)
	s1 := seats[1].(map[string]any)
	if len(seats) != 8 || s1["userId"] != bob.UserID || s1["username"] != "bob" || seats[2].(map[string]any)["userId"] != nil {
		t.Fatalf("seats = %v", seats)
	}
	if n := a.expect("notice"); n["event"] != "join" || n["userId"] != bob.UserID || n["text"] == "" {
		t.Fatalf("notice = %v", n)
	}
	ack := b.request(map[string]string{"action": "group-message", "room": "bar", "msg": "cheers", "id": "g1"})
	if ack["type"] == "group-message" {
		ack = b.next() // the sender gets its own message, then the ack
	}
	if ack["type"] != "ack" || ack["id"] != "g1" {
		t.Fatalf("group ack = %v", ack)
	}
	if g := a.expect("group-message"); g["msg"] != "cheers" || g["uname"] != "bob" || g["messageId"] != ack["messageId"] {
		t.Fatalf("group-message = %v", g)
	}
	var room map[string]any
	s.call("GET", "/api/rooms/bar", alice.Token, nil, &room)
	if room["room"] != "bar" || len(room["seats"].([]any)) != 8 {
		t.Fatalf("room = %v", room)
	}
	// Closing bob's only connection frees his seat.
	b.conn.Close(websocket.StatusNormalClosure, "bye")
	left := a.expect("update")
	if left["version"].(float64) <= up["version"].(float64) || left["seats"].([]any)[1].(map[string]any)["userId"] != nil {
		t.Fatalf("after bob left: %v", left)
	}
	if n := a.expect("notice"); n["event"] != "leave" || n["userId"] != bob.UserID {
		t.Fatalf("leave notice = %v", n)
	}
	if r := a.request(map[string]string{"action": "leaveroom", "room": "bar", "id": "l"}); r["type"] != "ack" || r["id"] != "l" {
		t.Fatalf("leave = %v", r)
	}
	s.call("GET", "/api/rooms/bar", alice.Token, nil, &room)
	if room["version"] != float64(0) {
		t.Fatalf("empty room still has records: %v", room)
	}
}

func testConcurrentJoiners(t *testing.T, s *stack, n int) {
	clients := make([]*client, n)
	ids := make([]string, n)
	tokens := make([]string, n)
	for i := range n {
		acct := s.register(fmt.Sprintf("joiner%03d", i))
		ids[i], tokens[i] = acct.UserID, acct.Token
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if clients[i], err = s.tryDial(t, tokens[i]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(<-errs)
	}
	answers := make([]map[string]any, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i].send(map[string]string{"action": "joinroom", "room": "crowded"})
			// The answer to the join is the first update/full for this
			// connection that carries its own seat or says full.
			for {
				select {
				case f := <-clients[i].frames:
					if f["type"] == "full" {
						answers[i] = f
						return
					}
					if f["type"] == "update" && seatOf(f, ids[i]) >= 0 {
						answers[i] = f
						return
					}
				case <-clients[i].closed:
					errs <- errors.New("connection closed")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seated, full := 0, 0
	for _, a := range answers {
		switch a["type"] {
		case "full":
			full++
		case "update":
			seated++
		}
	}
	var room map[string]any
	acct := s.register("observer")
	s.call("GET", "/api/rooms/crowded", acct.Token, nil, &room)
	holders := map[any]bool{}
	for _, st := range room["seats"].([]any) {
		uid := st.(map[string]any)["userId"]
		if uid == nil || holders[uid] {
			t.Fatalf("seat empty or held twice: %v", room["seats"])
		}
		holders[uid] = true
	}
	if seated != 8 || full != n-8 {
		for i, a := range answers {
			if a["type"] == "update" {
				t.Logf("client %d (%s) answer %v", i, ids[i], a)
			}
		}
		t.Logf("room %v", room)
		t.Fatalf("seated %d, full %d; want 8 and %d", seated, full, n-8)
	}
}

func seatOf(update map[string]any, userID string) int {
	for i, st := range update["seats"].([]any) {
		if st.(map[string]any)["userId"] == userID {
			return i
		}
	}
	return -1
}

func testHTTPAPI(t *testing.T, s *stack) {
	var e map[string]any
	if st := s.call("POST", "/api/auth/register", "", map[string]string{"username": "x", "password": "password123"}, &e); st != 400 || e["code"] != "bad-request" {
		t.Fatalf("bad register: %d %v", st, e)
	}
	alice := s.register("alice")
	if st := s.call("POST", "/api/auth/register", "", map[string]string{"username": "alice", "password": "password123"}, &e); st != 409 || e["code"] != "conflict" {
		t.Fatalf("duplicate: %d %v", st, e)
	}
	if st := s.call("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "wrong-password"}, &e); st != 401 || e["code"] != "unauthorized" {
		t.Fatalf("wrong password: %d %v", st, e)
	}
	var sess account
	if st := s.call("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "password123"}, &sess); st != 200 || sess.UserID != alice.UserID {
		t.Fatalf("login: %d %v", st, sess)
	}
	if st := s.call("GET", "/api/conversations", "", nil, &e); st != 401 || e["code"] != "unauthorized" {
		t.Fatalf("no token: %d %v", st, e)
	}
	bob := s.register("bob")
	b := s.dial(t, bob.Token)
	var msg map[string]any
	if st := s.call("POST", "/api/conversations/"+bob.UserID+"/messages", alice.Token, map[string]string{"content": "over http", "id": "h1"}, &msg); st != 201 {
		t.Fatalf("send over http: %d %v", st, msg)
	}
	if m := b.expect("private-message"); m["messageId"] != msg["messageId"] || m["content"] != "over http" {
		t.Fatalf("pushed = %v", m)
	}
	if st := s.call("DELETE", "/api/messages/"+msg["messageId"].(string), bob.Token, nil, &e); st != 403 {
		t.Fatalf("delete by recipient: %d", st)
	}
	if st := s.call("DELETE", "/api/messages/"+msg["messageId"].(string), alice.Token, nil, nil); st != 204 {
		t.Fatalf("delete by sender: %d", st)
	}
	if d := b.expect("message-deleted"); d["messageId"] != msg["messageId"] {
		t.Fatalf("deleted push = %v", d)
	}
	var me map[string]any
	if st := s.call("PUT", "/api/users/me/avatar", alice.Token, map[string]string{"avatar": "🦊"}, &me); st != 200 || me["avatar"] != "🦊" {
		t.Fatalf("avatar: %d %v", st, me)
	}
	if st := s.call("GET", "/api/nothing-here", alice.Token, nil, nil); st != 404 {
		t.Fatalf("unknown route: %d", st)
	}
}

func testFileMessages(t *testing.T, s *stack) {
	alice, bob, eve := s.register("alice"), s.register("bob"), s.register("eve")
	a, b, e := s.dial(t, alice.Token), s.dial(t, bob.Token), s.dial(t, eve.Token)
	upload := func(from, to account, data []byte, declared int) string {
		var up struct {
			FileKey string
			Upload  struct {
				Method, URL string
				Fields      map[string]string
			}
		}
		body := map[string]any{"fileName": "pixel.png", "fileType": "image/png", "size": declared, "to": to.UserID}
		if st := s.call("POST", "/api/files", from.Token, body, &up); st != 200 || up.Upload.Method != "POST" {
			t.Fatalf("POST /api/files: %d %+v", st, up)
		}
		if err := filestest.Post(t.Context(), up.Upload.URL, up.Upload.Fields, "pixel.png", data); err != nil {
			t.Fatal(err)
		}
		return up.FileKey
	}
	send := func(c *client, key, to string) map[string]any {
		return c.request(map[string]string{"action": "private-file-message", "to": to, "fileKey": key,
			"fileName": "pixel.png", "fileType": "image/png", "messageType": "image"})
	}
	key := upload(alice, bob, filestest.PNG, len(filestest.PNG))
	if r := send(e, key, bob.UserID); r["code"] != "forbidden" {
		t.Fatalf("someone else's fileKey: %v", r)
	}
	ack := send(a, key, bob.UserID)
	if ack["type"] != "ack" {
		t.Fatalf("send file: %v", ack)
	}
	m := b.expect("private-file-message")
	if m["messageId"] != ack["messageId"] || m["from"] != alice.UserID || m["fileSize"] != float64(len(filestest.PNG)) {
		t.Fatalf("file message = %v", m)
	}
	got, _, err := filestest.Get(t.Context(), m["fileUrl"].(string))
	if err != nil || !bytes.Equal(got, filestest.PNG) {
		t.Fatalf("download: %d bytes, %v", len(got), err)
	}
	bad := upload(alice, bob, []byte("not an image at all"), len("not an image at all"))
	if r := send(a, bad, bob.UserID); r["code"] != "bad-request" {
		t.Fatalf("text as png: %v", r)
	}
	var missing struct{ FileKey string }
	s.call("POST", "/api/files", alice.Token, map[string]any{"fileName": "x.png", "fileType": "image/png", "size": 10, "to": bob.UserID}, &missing)
	if r := send(a, missing.FileKey, bob.UserID); r["code"] != "not-found" {
		t.Fatalf("missing upload: %v", r)
	}
	var e400 map[string]any
	if st := s.call("POST", "/api/files", alice.Token, map[string]any{"fileName": "x.exe", "fileType": "application/x-msdownload", "size": 10, "to": bob.UserID}, &e400); st != 400 || e400["code"] != "bad-request" {
		t.Fatalf("forbidden type: %d %v", st, e400)
	}
	b.sync()
}
