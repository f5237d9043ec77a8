package docs

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

// nobody is a well-formed id that names no user and no message.
const nobody = "00000000-0000-7000-8000-999999999999"

// scenario is the story TestServerAnswersMatchTheDocuments tells, one step
// after the other on one server: who takes part, and what earlier steps
// sent that later ones look back at.
type scenario struct {
	*harness
	alice, bob, carol user
	// hello is the ack of alice's first message to bob, reply the ack of
	// bob's answer, group the id of bob's message to the lobby.
	hello, reply map[string]any
	group        string
	lobbyEpoch   string
}

// TestServerAnswersMatchTheDocuments drives every built action and route
// through the real handlers and checks each frame and answer against the
// documents, and the behaviours protocol.md spells out.
func TestServerAnswersMatchTheDocuments(t *testing.T) {
	s := &scenario{harness: newHarness(t, scenarioLimits)}
	s.accounts()
	s.handshakes()
	s.presenceState()
	s.beforeLogin()
	s.refusedFrames()
	s.privateMessages()
	s.typing()
	s.readReceipts()
	s.deletion()
	s.textAvatar()
	s.rooms()
	s.epochs()
	s.fullRoom()
	s.httpConversations()
	s.httpMessages()
	s.httpUsersAndRooms()
	s.files()
	s.imageAvatars()
	s.failedLogins()

	for typ, m := range s.types {
		if !m.planned && !s.seen[typ] {
			t.Errorf("the scenario never produced a %q frame; extend it so the frame is checked", typ)
		}
	}
	for key, op := range s.ops {
		if !op.planned && !s.called[key] {
			t.Errorf("the scenario never called %s; extend it so its answers are checked", key)
		}
	}
}

func (s *scenario) accounts() {
	s.alice, s.bob = s.register("alice"), s.register("bob")
	st, body := s.call("POST", "/api/auth/register", "", `{"username":"alice","password":"another-pass-1"}`)
	s.wantStatus("register a taken name", st, body, 409)
	st, body = s.call("POST", "/api/auth/register", "", `{"username":"x","password":"correct-horse-9"}`)
	s.wantStatus("register a short name", st, body, 400)
	st, body = s.call("POST", "/api/auth/login", "", `{"username":"bob","password":"wrong-password"}`)
	s.wantStatus("login with a wrong password", st, body, 401)
	st, body = s.call("POST", "/api/auth/login", "", `{"username":"bob","password":"correct-horse-9"}`)
	s.wantStatus("login", st, body, 200)
	st, body = s.call("GET", "/api/conversations", "", "")
	s.wantStatus("no token", st, body, 401)
}

func (s *scenario) handshakes() {
	t := s.t
	if st, _ := s.connect("A1", map[string]string{"token": s.alice.token}, nil); st != 200 {
		t.Fatalf("connect with ?token: %d", st)
	}
	st, echo := s.connect("A2", nil, map[string]string{"Sec-WebSocket-Protocol": "minichat.v1, " + s.alice.token, "Origin": testOrigin})
	if st != 200 || echo != "minichat.v1" {
		t.Fatalf("connect with the subprotocol: %d, echoed %q", st, echo)
	}
	if st, _ := s.connect("B1", nil, nil); st != 200 {
		t.Fatalf("connect without a token: %d", st)
	}
	if st, _ := s.connect("X1", map[string]string{"token": "not.a.token"}, nil); st != 401 {
		t.Errorf("connect with a bad token: %d, want 401", st)
	}
	if st, _ := s.connect("X2", map[string]string{"token": s.alice.token}, map[string]string{"Origin": "https://evil.example"}); st != 403 {
		t.Errorf("connect from a foreign origin: %d, want 403", st)
	}
}

// presenceState subscribes A1 to bob, who was never online (his B1 has not
// logged in yet), and to an id of nobody.
func (s *scenario) presenceState() {
	t := s.t
	got := s.send("A1", frame(`{"action":"subscribe-presence","id":"s1","userIds":[%q,%q,%q]}`, s.bob.id, nobody, s.bob.id),
		map[string][]string{"A1": {"presence-state"}})
	state := got["A1"][0]
	users, _ := state["users"].([]any)
	var ids []string
	for _, u := range users {
		p := u.(map[string]any)
		ids = append(ids, fmt.Sprint(p["userId"]))
		if p["online"] != false || p["lastSeen"] != nil {
			t.Errorf("presence-state of a user never online: %v", p)
		}
	}
	if want := slices.Sorted(slices.Values([]string{s.bob.id, nobody})); state["id"] != "s1" || !slices.Equal(ids, want) {
		t.Errorf("presence-state = %v, want the request's id and each user once, by id (%v)", state, want)
	}
	got = s.send("A1", `{"action":"subscribe-presence","userIds":[]}`, map[string][]string{"A1": {"error"}})
	s.wantCode("subscribe to no one", got["A1"][0], "bad-request")
}

func (s *scenario) beforeLogin() {
	t := s.t
	got := s.send("B1", frame(`{"action":"private-message","id":"c0","to":%q,"content":"hi"}`, s.alice.id), map[string][]string{"B1": {"error"}})
	s.wantCode("anonymous send", got["B1"][0], "unauthorized")
	// Every action but login and ping checks the login before its fields.
	for _, f := range []string{
		`{"action":"joinroom","room":"no such room!"}`,
		`{"action":"leaveroom","room":""}`,
		`{"action":"group-message","room":"lobby","msg":""}`,
		`{"action":"message-deleted","messageId":"nope"}`,
		`{"action":"avatar-updated","avatar":""}`,
		`{"action":"avatar-updated","avatarFileKey":"../x"}`,
		`{"action":"private-file-message","to":"x","fileKey":"../../etc/passwd"}`,
		`{"action":"typing","to":"x","state":"maybe"}`,
		frame(`{"action":"typing","to":%q,"state":"start"}`, s.alice.id),
		`{"action":"read","peerId":"x","messageId":"y"}`,
		`{"action":"subscribe-presence","userIds":[]}`,
		`{"action":"unsubscribe-presence","userIds":["x"]}`,
	} {
		got = s.send("B1", f, map[string][]string{"B1": {"error"}})
		s.wantCode("anonymous: "+f, got["B1"][0], "unauthorized")
	}
	got = s.send("B1", `{"action":"ping","id":"p1"}`, map[string][]string{"B1": {"pong"}})
	if got["B1"][0]["id"] != "p1" {
		t.Errorf("pong does not echo the id: %v", got["B1"][0])
	}
	// bob's first connection speaks for him: A1, subscribed, is told.
	got = s.send("B1", frame(`{"action":"login","id":"l1","token":%q}`, s.bob.token), map[string][]string{"B1": {"login-ok"}, "A1": {"presence"}})
	if f := got["B1"][0]; f["userId"] != s.bob.id || f["username"] != "bob" || f["id"] != "l1" {
		t.Errorf("login-ok = %v", f)
	}
	if p := got["A1"][0]; p["userId"] != s.bob.id || p["online"] != true || p["lastSeen"] == nil {
		t.Errorf("presence when bob came online = %v", p)
	}
	got = s.send("B1", frame(`{"action":"login","token":%q}`, s.alice.token), map[string][]string{"B1": {"error"}})
	s.wantCode("login as another user", got["B1"][0], "forbidden")
}

func (s *scenario) refusedFrames() {
	got := s.send("A1", `{"action":"dance","id":"x1"}`, map[string][]string{"A1": {"error"}})
	s.wantCode("unknown action", got["A1"][0], "unknown-action")
	if got["A1"][0]["id"] != "x1" {
		s.t.Errorf("the error does not echo the id: %v", got["A1"][0])
	}
	got = s.send("A1", `not json`, map[string][]string{"A1": {"error"}})
	s.wantCode("not JSON", got["A1"][0], "bad-request")
	got = s.send("A1", frame(`{"action":"private-message","to":%q,"content":"me"}`, s.alice.id), map[string][]string{"A1": {"error"}})
	s.wantCode("message to self", got["A1"][0], "bad-request")
}

func (s *scenario) privateMessages() {
	t := s.t
	hello := frame(`{"action":"private-message","id":"c1","to":%q,"content":"Hi Bob!"}`, s.bob.id)
	got := s.send("A1", hello, map[string][]string{"A1": {"ack"}, "A2": {"private-message"}, "B1": {"private-message"}})
	// Stored, acked, then fanned out.
	s.pushedBefore("hello", "A1 ack")
	s.hello = got["A1"][0]
	for _, conn := range []string{"A2", "B1"} {
		m := got[conn][0]
		if m["messageId"] != s.hello["messageId"] || m["seq"] != 1.0 || m["at"] != s.hello["at"] || m["fromName"] != "alice" {
			t.Errorf("%s got %v for the ack %v", conn, m, s.hello)
		}
	}
	if s.hello["id"] != "c1" || s.hello["seq"] != 1.0 {
		t.Errorf("ack = %v, want the request's id and seq 1", s.hello)
	}
	got = s.send("A1", hello, map[string][]string{"A1": {"ack"}})
	if again := got["A1"][0]; again["messageId"] != s.hello["messageId"] || again["at"] != s.hello["at"] || again["seq"] != 1.0 {
		t.Errorf("a resend got %v, want the first message's %v", again, s.hello)
	}
	// The conversation's seq counts both directions.
	got = s.send("B1", frame(`{"action":"private-message","id":"c2","to":%q,"content":"Hi Alice!"}`, s.alice.id),
		map[string][]string{"B1": {"ack"}, "A1": {"private-message"}, "A2": {"private-message"}})
	if s.reply = got["B1"][0]; s.reply["seq"] != 2.0 || got["A1"][0]["seq"] != 2.0 {
		t.Errorf("bob's reply: ack %v, pushed %v; want seq 2", s.reply, got["A1"][0])
	}
}

func (s *scenario) typing() {
	t := s.t
	start := frame(`{"action":"typing","to":%q,"state":"start"}`, s.alice.id)
	got := s.send("B1", start, map[string][]string{"A1": {"typing"}, "A2": {"typing"}})
	if f := got["A1"][0]; f["from"] != s.bob.id || f["username"] != "bob" || f["to"] != s.alice.id || f["state"] != "start" {
		t.Errorf("typing = %v", f)
	}
	s.send("B1", frame(`{"action":"typing","id":"t0","to":%q,"state":"stop"}`, s.alice.id),
		map[string][]string{"B1": {"ack"}, "A1": {"typing"}, "A2": {"typing"}})
	// Errors are always sent, and cost nothing of the typing limit.
	for f, code := range map[string]string{
		frame(`{"action":"typing","to":%q,"state":"maybe"}`, s.alice.id):                "bad-request",
		frame(`{"action":"typing","to":%q,"room":"lobby","state":"start"}`, s.alice.id): "bad-request",
		`{"action":"typing","state":"start"}`:                                           "bad-request",
		frame(`{"action":"typing","to":%q,"state":"start"}`, s.bob.id):                  "bad-request",
		frame(`{"action":"typing","to":%q,"state":"start"}`, nobody):                    "not-found",
		`{"action":"typing","room":"lobby","state":"start"}`:                            "forbidden",
	} {
		got = s.send("B1", f, map[string][]string{"B1": {"error"}})
		s.wantCode(f, got["B1"][0], code)
	}
	// Past the limit a frame is dropped without a reply, even with an id.
	acked, dropped := 0, false
	for i := range 20 {
		got = s.send("B1", frame(`{"action":"typing","id":"t%d","to":%q,"state":"start"}`, i+1, s.alice.id), nil)
		if len(got) == 0 {
			dropped = true
			break
		}
		s.wantFrames("typing within the limit", got, map[string][]string{"B1": {"ack"}, "A1": {"typing"}, "A2": {"typing"}})
		acked++
	}
	if !dropped || acked < chat.DefaultTypingBurst-2 {
		t.Errorf("%d typing frames relayed after 2, none dropped: %t; want the rest of a burst of %d, then silence", acked, !dropped, chat.DefaultTypingBurst)
	}
	// The target is checked before the limit: a bad one is still told.
	got = s.send("B1", frame(`{"action":"typing","id":"t-bad","to":%q,"state":"start"}`, nobody), map[string][]string{"B1": {"error"}})
	s.wantCode("typing to nobody past the limit", got["B1"][0], "not-found")
}

func (s *scenario) readReceipts() {
	t := s.t
	read := func(id, peer, message string) string {
		return frame(`{"action":"read","id":%q,"peerId":%q,"messageId":%q}`, id, peer, message)
	}
	got := s.send("A1", read("r1", s.bob.id, fmt.Sprint(s.reply["messageId"])),
		map[string][]string{"A1": {"ack"}, "A2": {"read"}, "B1": {"read"}})
	if f := got["B1"][0]; f["chatWith"] != s.alice.id || f["by"] != s.alice.id || f["messageId"] != s.reply["messageId"] {
		t.Errorf("read to the peer = %v, want chatWith and by alice", f)
	}
	if f := got["A2"][0]; f["chatWith"] != s.bob.id || f["by"] != s.alice.id {
		t.Errorf("read to the reader's other connection = %v, want chatWith bob, by alice", f)
	}
	if got["A1"][0]["id"] != "r1" {
		t.Errorf("ack = %v", got["A1"][0])
	}
	// A marker never moves back: an older message is acked and changes nothing.
	s.send("A1", read("r2", s.bob.id, fmt.Sprint(s.hello["messageId"])), map[string][]string{"A1": {"ack"}})
	for f, code := range map[string]string{
		read("r3", s.bob.id, nobody):                         "not-found",
		read("r4", nobody, fmt.Sprint(s.reply["messageId"])): "not-found",
		read("r5", s.bob.id, "m1"):                           "bad-request",
	} {
		got = s.send("A1", f, map[string][]string{"A1": {"error"}})
		s.wantCode(f, got["A1"][0], code)
	}
}

func (s *scenario) deletion() {
	t := s.t
	del := frame(`{"action":"message-deleted","id":"d1","messageId":%q}`, s.hello["messageId"])
	got := s.send("B1", del, map[string][]string{"B1": {"error"}})
	s.wantCode("recipient deletes", got["B1"][0], "forbidden")
	got = s.send("A1", del, map[string][]string{"A1": {"ack"}, "A2": {"message-deleted"}, "B1": {"message-deleted"}})
	if got["B1"][0]["chatWith"] != s.alice.id || got["A2"][0]["chatWith"] != s.bob.id {
		t.Errorf("chatWith: to bob %v, to alice's other connection %v", got["B1"][0], got["A2"][0])
	}
	s.send("A1", del, map[string][]string{"A1": {"ack"}})
}

func (s *scenario) textAvatar() {
	got := s.send("A1", `{"action":"avatar-updated","id":"a1","avatar":"🐳"}`,
		map[string][]string{"A1": {"ack"}, "A2": {"avatar-updated"}, "B1": {"avatar-updated"}})
	if f := got["B1"][0]; f["avatar"] != "🐳" || f["avatarUrl"] != nil {
		s.t.Errorf("avatar-updated of a text avatar = %v, want avatarUrl null", f)
	}
}

func (s *scenario) rooms() {
	t := s.t
	got := s.send("B1", `{"action":"group-message","room":"lobby","msg":"anyone?"}`, map[string][]string{"B1": {"error"}})
	s.wantCode("group message without a seat", got["B1"][0], "forbidden")
	got = s.send("B1", `{"action":"joinroom","id":"j1","room":"lobby"}`, map[string][]string{"B1": {"update", "notice"}})
	s.lobbyEpoch = fmt.Sprint(got["B1"][0]["epoch"])
	if got["B1"][0]["id"] != "j1" || got["B1"][1]["event"] != "join" || got["B1"][1]["epoch"] != s.lobbyEpoch || s.lobbyEpoch == "" {
		t.Errorf("join reply = %v", got["B1"])
	}
	got = s.send("A1", `{"action":"joinroom","room":"lobby"}`,
		map[string][]string{"A1": {"update", "notice"}, "A2": {"update", "notice"}, "B1": {"update", "notice"}})
	seats := got["B1"][0]["seats"].([]any)
	if st := seats[1].(map[string]any); st["userId"] != s.alice.id || st["avatar"] != chat.SeatAvatars[1] || st["avatarUrl"] != nil {
		t.Errorf("seat 1 = %v, want alice showing the seat's emoji %s, no image", st, chat.SeatAvatars[1])
	}
	if _, ok := got["A2"][0]["id"]; ok {
		t.Errorf("a pushed update carries an id: %v", got["A2"][0])
	}
	s.send("A1", `{"action":"joinroom","id":"j2","room":"lobby"}`, map[string][]string{"A1": {"update"}})

	got = s.send("B1", `{"action":"group-message","id":"g1","room":"lobby","msg":"Hello everyone"}`,
		map[string][]string{"A1": {"group-message"}, "A2": {"group-message"}, "B1": {"ack", "group-message"}})
	s.pushedBefore("group message", "B1 ack")
	ack, m := got["B1"][0], got["B1"][1]
	s.group = fmt.Sprint(m["messageId"])
	if ack["messageId"] != s.group || ack["room"] != "lobby" || ack["epoch"] != s.lobbyEpoch || ack["seq"] != 1.0 ||
		m["epoch"] != s.lobbyEpoch || m["seq"] != 1.0 {
		t.Errorf("group ack %v and message %v, want the room's epoch and seq 1", ack, m)
	}
	// Typing in a room reaches everyone seated but the typist's own connections.
	got = s.send("A1", `{"action":"typing","room":"lobby","state":"start"}`, map[string][]string{"B1": {"typing"}})
	if f := got["B1"][0]; f["room"] != "lobby" || f["epoch"] != s.lobbyEpoch || f["from"] != s.alice.id {
		t.Errorf("room typing = %v", f)
	}

	// The room's history, for those seated.
	st, body := s.call("GET", "/api/rooms/lobby/messages", s.bob.token, "")
	page := s.wantStatus("room history", st, body, 200)
	if msgs := page["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["messageId"] != s.group || msgs[0].(map[string]any)["epoch"] != s.lobbyEpoch {
		t.Errorf("room history = %v", page)
	}
	st, body = s.call("GET", "/api/rooms/lobby/messages?before="+fmt.Sprint(s.hello["messageId"]), s.bob.token, "")
	s.wantStatus("room history with a cursor of another history", st, body, 400)

	s.send("A1", `{"action":"leaveroom","id":"j3","room":"lobby"}`,
		map[string][]string{"A1": {"ack"}, "A2": {"update", "notice"}, "B1": {"update", "notice"}})
	s.send("A1", `{"action":"leaveroom","room":"lobby"}`, map[string][]string{"A1": {"ack"}})
	st, body = s.call("GET", "/api/rooms/lobby/messages", s.alice.token, "")
	s.wantStatus("room history without a seat", st, body, 403)
}

// epochs empties a room and creates it again: a new epoch, and versions
// from the start. alice stays seated in it.
func (s *scenario) epochs() {
	join := `{"action":"joinroom","room":"tiny"}`
	got := s.send("A1", join, map[string][]string{"A1": {"update", "notice"}, "A2": {"update", "notice"}})
	first := got["A1"][0]
	s.send("A1", `{"action":"leaveroom","room":"tiny"}`, map[string][]string{"A1": {"ack"}, "A2": {"update", "notice"}})
	got = s.send("A1", join, map[string][]string{"A1": {"update", "notice"}, "A2": {"update", "notice"}})
	again := got["A1"][0]
	if again["epoch"] == first["epoch"] || again["version"] != first["version"] || first["version"] != 1.0 {
		s.t.Errorf("a room emptied and joined again: %v then %v; want a new epoch and version 1 again", first, again)
	}
}

// fullRoom fills the lobby around bob, refuses the next joiner, and closes
// bob's only connection: his seat is freed and A1, still subscribed to him,
// sees him go offline. Then A1 unsubscribes.
func (s *scenario) fullRoom() {
	t := s.t
	for i := range chat.SeatCount - 1 {
		conn := fmt.Sprintf("G%d", i+1)
		s.online(fmt.Sprintf("guest%d", i+1), conn)
		want := map[string][]string{"B1": {"update", "notice"}, conn: {"update", "notice"}}
		for j := range i {
			want[fmt.Sprintf("G%d", j+1)] = []string{"update", "notice"}
		}
		s.send(conn, `{"action":"joinroom","room":"lobby"}`, want)
	}
	got := s.send("A1", `{"action":"joinroom","id":"j4","room":"lobby"}`, map[string][]string{"A1": {"full"}})
	if f := got["A1"][0]; f["id"] != "j4" || f["epoch"] != s.lobbyEpoch {
		t.Errorf("full = %v", f)
	}
	want := map[string][]string{"A1": {"presence"}}
	for i := range chat.SeatCount - 1 {
		want[fmt.Sprintf("G%d", i+1)] = []string{"update", "notice"}
	}
	got = s.disconnect("B1", want)
	if n := got["G1"][1]; n["event"] != "leave" || n["userId"] != s.bob.id {
		t.Errorf("leave on disconnect: %v", n)
	}
	if p := got["A1"][0]; p["userId"] != s.bob.id || p["online"] != false || p["lastSeen"] == nil {
		t.Errorf("presence when bob went offline = %v", p)
	}
	s.send("A1", frame(`{"action":"unsubscribe-presence","id":"u1","userIds":[%q]}`, s.bob.id), map[string][]string{"A1": {"ack"}})
}

// failedLogins: after 5 failures for a username, login is refused, and the
// answer says for how long.
func (s *scenario) failedLogins() {
	for range 5 {
		st, body := s.call("POST", "/api/auth/login", "", `{"username":"carol","password":"not-her-password"}`)
		s.wantStatus("failed login", st, body, 401)
	}
	a := s.request("POST", "/api/auth/login", "", `{"username":"carol","password":"correct-horse-9"}`)
	s.wantStatus("login after 5 failures", a.status, a.body, 429)
	if n, err := strconv.Atoi(a.headers["Retry-After"]); err != nil || n < 1 || n > 60 {
		s.t.Errorf("Retry-After %q, want the whole seconds left of the minute", a.headers["Retry-After"])
	}
}
