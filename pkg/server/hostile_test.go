package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/server"
)

// hostileSecret signs the tokens of the hostile stacks, so that tests can
// forge expired ones; otherSecret signs tokens they must refuse.
var (
	hostileSecret = []byte("hostile-tests-secret-0123456789abcdef")
	otherSecret   = []byte("some-other-deployment-secret-0123456789")
)

// hostileEnv is a stack with three users: alice (two devices), bob and
// carol, who sit in room "bar", and an anonymous connection. bob has sent
// alice one message (bobToAlice).
type hostileEnv struct {
	t                 *testing.T
	s                 *stack
	alice, bob, carol account
	a, a2, b, c, anon *client
	bobToAlice        string
}

// newHostileEnv starts a stack with the given chat limits and sets the
// scene; every connection has received everything pushed so far.
func newHostileEnv(t *testing.T, limits chat.Limits) *hostileEnv {
	opts := boltOptions(t)
	opts.Settings.JWTSecret = hostileSecret
	opts.ChatLimits = limits
	e := &hostileEnv{t: t, s: startStack(t, opts)}
	e.alice, e.bob, e.carol = e.s.register("alice"), e.s.register("bob"), e.s.register("carol")
	e.a, e.a2 = e.s.dial(t, e.alice.Token), e.s.dial(t, e.alice.Token)
	e.b, e.c = e.s.dial(t, e.bob.Token), e.s.dial(t, e.carol.Token)
	e.anon = e.s.dial(t, "")
	for _, c := range []*client{e.b, e.c} {
		if up := c.request(map[string]string{"action": "joinroom", "room": "bar"}); up["type"] != "update" {
			t.Fatalf("join: %v", up)
		}
	}
	for _, c := range e.clients() {
		drain(c)
	}
	ack := e.b.request(map[string]string{"action": "private-message", "to": e.alice.UserID, "content": "from bob"})
	if ack["type"] != "ack" {
		t.Fatalf("setup message: %v", ack)
	}
	e.bobToAlice = ack["messageId"].(string)
	// The ack goes out before the message is delivered: wait for alice's
	// copies before calling the scene set.
	e.a.expect("private-message")
	e.a2.expect("private-message")
	for _, c := range e.clients() {
		drain(c)
	}
	return e
}

func (e *hostileEnv) clients() []*client { return []*client{e.a, e.a2, e.b, e.c, e.anon} }

// drain returns every frame that reaches c before the answer to a ping,
// sent once the server runs no handler: by then everything earlier
// requests pushed has been written, and the ping's pong comes after it.
func drain(c *client) []map[string]any {
	c.t.Helper()
	c.idle()
	if pong := c.request(map[string]string{"action": "ping"}); pong["type"] != "pong" {
		c.t.Fatalf("ping answered %v", pong)
	}
	return c.takePending()
}

// quiet fails the test if any connection received a frame not consumed yet.
func (e *hostileEnv) quiet(what string) {
	e.t.Helper()
	names := []string{"alice", "alice's other device", "bob", "carol", "the anonymous connection"}
	for i, c := range e.clients() {
		if extra := drain(c); len(extra) > 0 {
			e.t.Errorf("%s: %s received %v", what, names[i], extra)
		}
	}
}

var (
	fileURLs = regexp.MustCompile(`"fileUrl":"[^"]*"`)
	// lastSeen is "now" while a user is online: it moves between reads.
	lastSeens = regexp.MustCompile(`"lastSeen":("[^"]*"|null)`)
)

// snapshot is everything the HTTP API shows of the stored state: every
// user's conversations, every pair's history, room bar and the users.
func (e *hostileEnv) snapshot() string {
	e.t.Helper()
	var all []any
	for _, u := range []account{e.alice, e.bob, e.carol} {
		var convs any
		e.s.call("GET", "/api/conversations", u.Token, nil, &convs)
		all = append(all, convs)
	}
	for _, p := range [][2]account{{e.alice, e.bob}, {e.alice, e.carol}, {e.bob, e.carol}} {
		var page any
		e.s.call("GET", "/api/conversations/"+p[1].UserID+"/messages?limit=100", p[0].Token, nil, &page)
		all = append(all, page)
	}
	var room, users any
	e.s.call("GET", "/api/rooms/bar", e.alice.Token, nil, &room)
	e.s.call("GET", "/api/users?prefix=", e.alice.Token, nil, &users)
	b, _ := json.Marshal(append(all, room, users))
	// Download links are signed afresh on every read.
	return lastSeens.ReplaceAllString(fileURLs.ReplaceAllString(string(b), `"fileUrl":""`), `"lastSeen":""`)
}

// answer is how a frame answers a request: its type, or error:<code>.
func answer(f map[string]any) string {
	if f["type"] == "error" {
		return fmt.Sprintf("error:%v", f["code"])
	}
	return fmt.Sprint(f["type"])
}

// ws sends frame (a string is sent as is) on c and returns the answer.
func (e *hostileEnv) ws(c *client, frame any) string {
	e.t.Helper()
	return answer(c.request(frame))
}

// http makes a request with a raw body (string or []byte) or a JSON one,
// and extra headers as name, value pairs; it returns http:<status> and,
// for error bodies, :<code>.
func (e *hostileEnv) http(method, path, token string, body any, header ...string) string {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.s.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m struct{ Code string }
	if resp.StatusCode >= 400 && json.Unmarshal(data, &m) == nil && m.Code != "" {
		return fmt.Sprintf("http:%d:%s", resp.StatusCode, m.Code)
	}
	return fmt.Sprintf("http:%d", resp.StatusCode)
}

// handshake opens a WebSocket with query appended to the URL and returns
// handshake:<status> (101 when it opened).
func (e *hostileEnv) handshake(query string, header http.Header, subprotocols ...string) string {
	e.t.Helper()
	conn, resp, err := websocket.Dial(e.t.Context(), e.s.srv.WSURL+query, &websocket.DialOptions{HTTPHeader: header, Subprotocols: subprotocols})
	if err == nil {
		conn.Close(websocket.StatusNormalClosure, "")
		return "handshake:101"
	}
	if resp == nil {
		e.t.Fatalf("handshake: %v", err)
	}
	return fmt.Sprintf("handshake:%d", resp.StatusCode)
}

// oversized sends, on a new connection of alice, one text message made of
// frames of the given sizes, and returns close:<code> of how the server
// ended the connection.
func (e *hostileEnv) oversized(frames ...int) string {
	e.t.Helper()
	data := make([][]byte, len(frames))
	for i, n := range frames {
		data[i] = bytes.Repeat([]byte("a"), n)
	}
	return e.fresh(data...)
}

// fresh sends, on a new connection of alice, one text message made of the
// given frames, and returns the answer, or close:<code> when the server
// ended the connection instead.
func (e *hostileEnv) fresh(frames ...[]byte) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), frameTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, e.s.srv.WSURL+"?token="+url.QueryEscape(e.alice.Token), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.CloseNow()
	w, err := conn.Writer(ctx, websocket.MessageText)
	if err != nil {
		e.t.Fatal(err)
	}
	// Writes fail once the server has closed: that is the point.
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			break
		}
	}
	w.Close()
	_, data, err := conn.Read(ctx)
	if err != nil {
		return fmt.Sprintf("close:%d", websocket.CloseStatus(err))
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		e.t.Fatalf("answer %q: %v", data, err)
	}
	return answer(f)
}

// s3 makes an unsigned request to the embedded S3 at path (under the
// bucket) from a foreign web page, and returns http:<status>, with
// ":cors" when the answer lets that page read it.
func (e *hostileEnv) s3(method, path string) string {
	e.t.Helper()
	u := e.s.srv.URL + server.S3Path + "/" + app.DefaultBucket + path
	req, err := http.NewRequestWithContext(e.t.Context(), method, u, strings.NewReader("overwritten"))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		return fmt.Sprintf("http:%d:cors", resp.StatusCode)
	}
	return fmt.Sprintf("http:%d", resp.StatusCode)
}

// token returns a token for who signed with secret and issued at iat.
func (e *hostileEnv) token(secret []byte, who account, iat time.Time) string {
	e.t.Helper()
	tokens, err := auth.NewJWTTokens(secret, auth.WithClock(func() time.Time { return iat }))
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := tokens.Issue(chat.Identity{UserID: who.UserID, Username: who.Username})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// unsigned returns who's claims under an alg:none header, unsigned.
func unsigned(who account) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return header + "." + strings.Split(who.Token, ".")[1] + "."
}

// upload asks POST /api/files for an upload of declared bytes from from to
// to and uploads data; it returns the fileKey.
func (e *hostileEnv) upload(from, to account, fileType string, data []byte, declared int) string {
	e.t.Helper()
	var up struct {
		FileKey string
		Upload  struct {
			URL    string
			Fields map[string]string
		}
	}
	body := map[string]any{"fileName": "f.png", "fileType": fileType, "size": declared, "to": to.UserID}
	if st := e.s.call("POST", "/api/files", from.Token, body, &up); st != 200 {
		e.t.Fatalf("POST /api/files: %d", st)
	}
	if data != nil {
		if err := filestest.Post(e.t.Context(), up.Upload.URL, up.Upload.Fields, "f.png", data); err != nil {
			e.t.Fatal(err)
		}
	}
	return up.FileKey
}

func fileFrame(to account, key string) map[string]string {
	return map[string]string{"action": "private-file-message", "to": to.UserID, "fileKey": key,
		"fileName": "f.png", "fileType": "image/png", "messageType": "image"}
}

// hostileCase is one hostile input and its documented answer.
type hostileCase struct {
	name string
	// want is the answer protocol v1 documents: error:<code> for a frame,
	// http:<status>[:<code>], handshake:<status>, close:<code>, or the type
	// of the frame that accepts the input.
	want string
	run  func(e *hostileEnv) string
	// stored checks what an accepted input stored and delivered; without it
	// the input must change nothing the HTTP API shows and deliver nothing.
	stored func(e *hostileEnv, answer string)
}

// runHostile runs the cases in order and logs the table of answers.
func runHostile(t *testing.T, e *hostileEnv, cases []hostileCase) {
	var table strings.Builder
	fmt.Fprintf(&table, "\n| # | hostile input | documented answer | got |\n| --- | --- | --- | --- |\n")
	for i, c := range cases {
		before := e.snapshot()
		got := c.run(e)
		fmt.Fprintf(&table, "| %d | %s | %s | %s |\n", i+1, c.name, c.want, got)
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
		if c.stored != nil {
			c.stored(e, got)
		}
		e.quiet(c.name)
		if c.stored == nil {
			if after := e.snapshot(); after != before {
				t.Errorf("%s changed the stored state: %s", c.name, difference(before, after))
			}
		}
	}
	t.Log(table.String())
}

// difference shows where two snapshots first differ.
func difference(before, after string) string {
	i := 0
	for i < len(before) && i < len(after) && before[i] == after[i] {
		i++
	}
	from := max(i-80, 0)
	return fmt.Sprintf("before …%s…, after …%s…", before[from:min(i+80, len(before))], after[from:min(i+80, len(after))])
}

// delivered checks that an accepted private message from alice reached
// bob's connection and alice's other device, and the history, exactly as
// sent, from alice whatever the frame claimed.
func delivered(content string) func(e *hostileEnv, _ string) {
	return func(e *hostileEnv, _ string) {
		e.t.Helper()
		for _, c := range []*client{e.b, e.a2} {
			m := c.expect("private-message")
			if m["content"] != content || m["from"] != e.alice.UserID || m["fromName"] != "alice" || m["to"] != e.bob.UserID {
				e.t.Errorf("delivered %v, want content %q from alice", m, content)
			}
		}
		var page struct{ Messages []map[string]any }
		e.s.call("GET", "/api/conversations/"+e.bob.UserID+"/messages?limit=1", e.alice.Token, nil, &page)
		if len(page.Messages) != 1 || page.Messages[0]["content"] != content || page.Messages[0]["from"] != e.alice.UserID {
			e.t.Errorf("stored %v, want content %q from alice", page.Messages, content)
		}
	}
}

func privateTo(to account, content string) map[string]string {
	return map[string]string{"action": "private-message", "to": to.UserID, "content": content}
}

func nestedJSON(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// TestHostileInputs sends hostile inputs over real WebSockets and HTTP to
// the whole stack. Each gets its documented answer, and a refused input
// stores nothing (the HTTP API shows the same state before and after) and
// delivers nothing (every connection's next frame is the answer to its
// ping).
func TestHostileInputs(t *testing.T) {
	// Sends are not limited here; TestHostileFloods tests the limits.
	e := newHostileEnv(t, chat.Limits{SendRate: 1000, SendBurst: 1000})
	const script = `<script>alert(document.cookie)</script><img src=x onerror="alert(1)">&amp;`
	anonOnly := []string{"private-message", "private-file-message", "message-deleted", "avatar-updated", "joinroom", "leaveroom", "group-message"}
	cases := []hostileCase{
		// Size limits of API Gateway, emulated by the local gateway.
		{name: "frame over 32 KB", want: "close:1009", run: func(e *hostileEnv) string { return e.oversized(32<<10 + 1) }},
		{name: "message over 128 KB in frames of 30 KB", want: "close:1009", run: func(e *hostileEnv) string { return e.oversized(30<<10, 30<<10, 30<<10, 30<<10, 30<<10) }},
		{name: "frame of exactly 32 KB", want: "pong", run: func(e *hostileEnv) string {
			f := `{"action":"ping","pad":"`
			return e.ws(e.a, f+strings.Repeat("p", 32<<10-len(f)-2)+`"}`)
		}},
		// Frames that are not the protocol's JSON objects.
		{name: "binary frame", want: "error:bad-request", run: func(e *hostileEnv) string {
			if err := e.a.conn.Write(e.t.Context(), websocket.MessageBinary, []byte(`{"action":"ping"}`)); err != nil {
				e.t.Fatal(err)
			}
			return answer(e.a.next())
		}},
		{name: "not JSON", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `hello`) }},
		{name: "JSON array", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `[{"action":"ping"}]`) }},
		{name: "JSON null", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `null`) }},
		{name: "trailing data after the object", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"ping"} {"action":"ping"}`) }},
		{name: "JSON nested 10001 deep", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"x","extra":`+nestedJSON(10001)+`}`)
		}},
		{name: "JSON nested 1000 deep in a field", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":`+strings.Repeat("[", 1000)+`"`+e.bob.UserID+`"`+strings.Repeat("]", 1000)+`,"content":"x"}`)
		}},
		{name: "no action", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"to":"x","content":"x"}`) }},
		{name: "route key as action ($disconnect)", want: "error:unknown-action", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"$disconnect"}`) }},
		{name: "unknown action of 10 KB", want: "error:unknown-action", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"`+strings.Repeat("x", 10<<10)+`"}`)
		}},
		// Encodings and control characters.
		{name: "NUL escaped in content", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "a\x00b")) }},
		{name: "raw control byte in a JSON string", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, "{\"action\":\"private-message\",\"to\":\""+e.bob.UserID+"\",\"content\":\"a\x01b\"}")
		}},
		{name: "C1 control character (U+0085) in content", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "a\u0085b")) }},
		{name: "ANSI escape in content", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "\x1b[2J\x1b[31mred")) }},
		// A text frame must be UTF-8 (RFC 6455: close 1007); API Gateway has no
		// event for one that is not. JSON decoding would turn invalid bytes and
		// lone surrogates into U+FFFD: they are refused, never stored altered.
		{name: "invalid UTF-8 bytes in a text frame", want: "close:1007", run: func(e *hostileEnv) string {
			return e.fresh([]byte("{\"action\":\"private-message\",\"to\":\"" + e.bob.UserID + "\",\"content\":\"caf\xe9 \xff\xfe\"}"))
		}},
		{name: "invalid UTF-8 bytes in an avatar", want: "close:1007", run: func(e *hostileEnv) string {
			return e.fresh([]byte("{\"action\":\"avatar-updated\",\"avatar\":\"\xf0\x9f\"}"))
		}},
		{name: "invalid UTF-8 bytes in a binary frame", want: "error:bad-request", run: func(e *hostileEnv) string {
			if err := e.a.conn.Write(e.t.Context(), websocket.MessageBinary, []byte("{\"action\":\"ping\",\"id\":\"\xff\"}")); err != nil {
				e.t.Fatal(err)
			}
			return answer(e.a.next())
		}},
		{name: "lone surrogate escape in content", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"\ud800"}`)
		}},
		{name: "lone surrogate escape in a room", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"joinroom","room":"bar\udfff"}`)
		}},
		{name: "escaped surrogate pair in content (one emoji)", want: "ack", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"\ud83e\udd8a"}`)
		}, stored: delivered("🦊")},
		{name: "invalid UTF-8 bytes in an HTTP body", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/conversations/"+e.bob.UserID+"/messages", e.alice.Token, []byte("{\"content\":\"caf\xe9\"}"))
		}},
		{name: "lone surrogate escape in an HTTP body", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("PUT", "/api/users/me/avatar", e.alice.Token, `{"avatar":"\udc00"}`)
		}},
		// Numbers and types.
		{name: "huge number as to", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":1e999999,"content":"x"}`)
		}},
		{name: "huge number as id", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"ping","id":123456789012345678901234567890123456789}`)
		}},
		{name: "to: 123", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"private-message","to":123,"content":"x"}`) }},
		{name: "content: {}", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":{}}`)
		}},
		{name: "action: 5", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":5}`) }},
		{name: "room: [\"bar\"]", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"joinroom","room":["bar"]}`) }},
		{name: "huge HTTP limit", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations/"+e.bob.UserID+"/messages?limit=99999999999999999999", e.alice.Token, nil)
		}},
		{name: "file size 1e30", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/files", e.alice.Token, `{"fileName":"a.png","fileType":"image/png","size":1e30,"to":"`+e.bob.UserID+`"}`)
		}},
		// lastSeq is a hint: a wrong one is stored after the real end, a
		// malformed one refused.
		{name: "lastSeq past the end", want: "ack", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"far ahead","lastSeq":9007199254740991}`)
		}, stored: delivered("far ahead")},
		{name: "negative lastSeq", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"x","lastSeq":-1}`)
		}},
		{name: "lastSeq as a string", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.bob.UserID+`","content":"x","lastSeq":"3"}`)
		}},
		{name: "fractional lastSeq over HTTP", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/conversations/"+e.bob.UserID+"/messages", e.alice.Token, `{"content":"x","lastSeq":1.5}`)
		}},
		// Content is text: stored and shown as sent.
		{name: "script tags in content", want: "ack", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, script)) }, stored: delivered(script)},
		{name: "SQL in content", want: "ack", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "'; DROP TABLE users; --")) },
			stored: delivered("'; DROP TABLE users; --")},
		{name: "bidi override in content", want: "ack", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "\u202egnp.exe")) },
			stored: delivered("\u202egnp.exe")},
		{name: "whitespace-only content (1..1000 characters, tab/CR/LF allowed)", want: "ack", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, " \t\r\n ")) },
			stored: delivered(" \t\r\n ")},
		{name: "1000 characters of 4 bytes each", want: "ack", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, strings.Repeat("🦊", 1000))) },
			stored: delivered(strings.Repeat("🦊", 1000))},
		{name: "script tags over HTTP", want: "http:201", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/conversations/"+e.bob.UserID+"/messages", e.alice.Token, map[string]string{"content": script})
		}, stored: func(e *hostileEnv, _ string) {
			m := e.b.expect("private-message")
			if m["content"] != script {
				e.t.Errorf("delivered %q", m["content"])
			}
			e.a.expect("private-message") // every connection of the sender gets a copy
			e.a2.expect("private-message")
		}},
		{name: "empty content", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, "")) }},
		{name: "1001 characters", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.bob, strings.Repeat("a", 1001))) }},
		{name: "message to oneself", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, privateTo(e.alice, "me")) }},
		{name: "message to a user who does not exist", want: "error:not-found", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "private-message", "to": "01890000-0000-7000-8000-000000000000", "content": "x"})
		}},
		// Ids, names and keys.
		{name: "id of 65 characters (error echoes no id)", want: "error:bad-request", run: func(e *hostileEnv) string {
			f := e.a.request(map[string]string{"action": "ping", "id": strings.Repeat("i", 65)})
			if _, echoed := f["id"]; echoed {
				e.t.Errorf("invalid id echoed: %v", f)
			}
			return answer(f)
		}},
		{name: "id with a control character", want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, map[string]string{"action": "ping", "id": "a\x07"}) }},
		{name: "room with a control character", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "joinroom", "room": "bar\x07"})
		}},
		{name: "room ../bar", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "joinroom", "room": "../bar"})
		}},
		{name: "room %2e%2e%2fbar", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "joinroom", "room": "%2e%2e%2fbar"})
		}},
		{name: "room of 65 characters", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "joinroom", "room": strings.Repeat("r", 65)})
		}},
		{name: "messageId ../../etc/passwd", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "message-deleted", "messageId": "../../etc/passwd"})
		}},
		{name: "fileKey with ../ into files/", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, "uploads/pending/"+e.alice.UserID+"/"+e.bob.UserID+"/../../../files/"+e.bob.UserID+"/"+e.alice.UserID+"/x"))
		}},
		{name: "fileKey with %2e%2e%2f", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, "uploads/pending/"+e.alice.UserID+"/%2e%2e%2f"+e.bob.UserID+"/x"))
		}},
		{name: "fileKey outside uploads/ (another user's sent file)", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, "files/"+e.bob.UserID+"/"+e.alice.UserID+"/01890000-0000-7000-8000-000000000000"))
		}},
		{name: "peerId ..%2F..%2Fusers", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations/..%2F..%2Fusers/messages", e.alice.Token, nil)
		}},
		{name: "peerId %2e%2e", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations/%2e%2e/messages", e.alice.Token, nil)
		}},
		{name: "peerId bob%2F..%2Fcarol", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations/"+e.bob.UserID+"%2F..%2F"+e.carol.UserID+"/messages", e.alice.Token, nil)
		}},
		{name: "history cursor ../x", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations/"+e.bob.UserID+"/messages?after=..%2Fx", e.alice.Token, nil)
		}},
		{name: "DELETE messageId ..%2Fconversations", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("DELETE", "/api/messages/..%2Fconversations", e.alice.Token, nil)
		}},
		{name: "room path ..%2Fbar", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/rooms/..%2Fbar", e.alice.Token, nil)
		}},
		{name: "user search ' OR '1'='1", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/users?prefix="+url.QueryEscape("' OR '1'='1"), e.alice.Token, nil)
		}},
		// NoSQL operators and prototype pollution.
		{name: `to: {"$gt": ""}`, want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":{"$gt":""},"content":"x"}`)
		}},
		{name: `room: {"$ne": null}`, want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"joinroom","room":{"$ne":null}}`) }},
		{name: `messageId: {"$gt": ""}`, want: "error:bad-request", run: func(e *hostileEnv) string { return e.ws(e.a, `{"action":"message-deleted","messageId":{"$gt":""}}`) }},
		{name: `login username: {"$gt": ""}`, want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/login", "", `{"username":{"$gt":""},"password":"password123"}`)
		}},
		{name: `login password: {"$gt": ""}`, want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/login", "", `{"username":"alice","password":{"$gt":""}}`)
		}},
		{name: `register username: {"$where": ...}`, want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", `{"username":{"$where":"1"},"password":"password123"}`)
		}},
		{name: "__proto__ carrying to", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","__proto__":{"to":"`+e.bob.UserID+`"},"constructor":{"prototype":{"isAdmin":true}},"content":"x"}`)
		}},
		{name: "duplicate to: carol then bob (the last counts)", want: "ack", run: func(e *hostileEnv) string {
			return e.ws(e.a, `{"action":"private-message","to":"`+e.carol.UserID+`","to":"`+e.bob.UserID+`","content":"dup"}`)
		}, stored: delivered("dup")},
		// Tokens.
		{name: "alg:none token at the handshake", want: "handshake:401", run: func(e *hostileEnv) string { return e.handshake("?token="+unsigned(e.alice), nil) }},
		{name: "expired token at the handshake", want: "handshake:401", run: func(e *hostileEnv) string {
			return e.handshake("?token="+e.token(hostileSecret, e.alice, time.Now().Add(-25*time.Hour)), nil)
		}},
		{name: "token signed with another secret", want: "handshake:401", run: func(e *hostileEnv) string {
			return e.handshake("?token="+e.token(otherSecret, e.alice, time.Now()), nil)
		}},
		{name: "alg:none token as a subprotocol", want: "handshake:401", run: func(e *hostileEnv) string {
			return e.handshake("", nil, "minichat.v1", unsigned(e.alice))
		}},
		{name: "alg:none token as HTTP bearer", want: "http:401:unauthorized", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations", unsigned(e.alice), nil)
		}},
		{name: "expired token as HTTP bearer", want: "http:401:unauthorized", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations", e.token(hostileSecret, e.alice, time.Now().Add(-25*time.Hour)), nil)
		}},
		{name: "Basic credentials instead of a bearer token", want: "http:401:unauthorized", run: func(e *hostileEnv) string {
			return e.http("GET", "/api/conversations", "", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:password123")))
		}},
		{name: "no token over HTTP", want: "http:401:unauthorized", run: func(e *hostileEnv) string { return e.http("GET", "/api/conversations", "", nil) }},
		{name: "expired token in the login action", want: "error:unauthorized", run: func(e *hostileEnv) string {
			return e.ws(e.anon, map[string]string{"action": "login", "token": e.token(hostileSecret, e.alice, time.Now().Add(-25*time.Hour))})
		}},
		{name: "token in the body of a non-login action", want: "error:unauthorized", run: func(e *hostileEnv) string {
			return e.ws(e.anon, map[string]string{"action": "private-message", "token": e.alice.Token, "to": e.bob.UserID, "content": "x"})
		}},
		{name: "login action with bob's token on alice's connection", want: "error:forbidden", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "login", "token": e.bob.Token})
		}},
		// Identity comes from the token, never from the frame.
		{name: "spoofed from, uname and userId", want: "ack", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "private-message", "to": e.bob.UserID, "content": "spoof",
				"from": e.carol.UserID, "fromName": "carol", "uname": "carol", "userId": e.carol.UserID})
		}, stored: delivered("spoof")},
		{name: "delete another user's message", want: "error:forbidden", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "message-deleted", "messageId": e.bobToAlice})
		}},
		{name: "HTTP DELETE of another user's message", want: "http:403:forbidden", run: func(e *hostileEnv) string {
			return e.http("DELETE", "/api/messages/"+e.bobToAlice, e.alice.Token, nil)
		}},
		{name: "group-message to a room without a seat", want: "error:forbidden", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "group-message", "room": "bar", "msg": "let me in", "uname": "bob"})
		}},
		// Origins.
		{name: "Origin https://evil.example at the handshake", want: "handshake:403", run: func(e *hostileEnv) string {
			return e.handshake("?token="+e.alice.Token, http.Header{"Origin": {"https://evil.example"}})
		}},
		{name: "Origin null at the handshake", want: "handshake:403", run: func(e *hostileEnv) string {
			return e.handshake("", http.Header{"Origin": {"null"}})
		}},
		{name: "Origin with the server's origin as a prefix", want: "handshake:403", run: func(e *hostileEnv) string {
			return e.handshake("", http.Header{"Origin": {e.s.srv.URL + ".evil.example"}})
		}},
		// Accounts.
		{name: "register a taken name", want: "http:409:conflict", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "alice", "password": "another-password"})
		}},
		{name: "register a name with a control character", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "ali\x00ce", "password": "password123"})
		}},
		{name: "register a Cyrillic confusable of alice", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "аlice", "password": "password123"})
		}},
		{name: "register a fullwidth confusable of bob", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "ｂｏｂ", "password": "password123"})
		}},
		{name: "register alice' OR '1'='1", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "alice' OR '1'='1", "password": "password123"})
		}},
		{name: "register with a 7-character password", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "mallory", "password": "1234567"})
		}},
		{name: "login as ' OR 1=1 --", want: "http:401:unauthorized", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/login", "", map[string]string{"username": "' OR 1=1 --", "password": "x"})
		}},
		{name: "HTTP body over 10 MiB", want: "http:413", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/auth/login", "", bytes.Repeat([]byte(" "), 10<<20+1))
		}},
		// Files.
		{name: "file of a type not allowed", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/files", e.alice.Token, map[string]any{"fileName": "x.exe", "fileType": "application/x-msdownload", "size": 10, "to": e.bob.UserID})
		}},
		{name: "file over 10 MiB", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/files", e.alice.Token, map[string]any{"fileName": "x.png", "fileType": "image/png", "size": 10<<20 + 1, "to": e.bob.UserID})
		}},
		{name: "file name with a path", want: "http:400:bad-request", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/files", e.alice.Token, map[string]any{"fileName": "../../etc/passwd", "fileType": "text/plain", "size": 10, "to": e.bob.UserID})
		}},
		{name: "someone else's fileKey", want: "error:forbidden", run: func(e *hostileEnv) string {
			return e.ws(e.c, fileFrame(e.bob, e.upload(e.alice, e.bob, "image/png", filestest.PNG, len(filestest.PNG))))
		}},
		{name: "own fileKey sent to another recipient", want: "error:forbidden", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.carol, e.upload(e.alice, e.bob, "image/png", filestest.PNG, len(filestest.PNG))))
		}},
		{name: "upload larger than declared (the embedded S3 checks no policy)", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, e.upload(e.alice, e.bob, "image/png", append(bytes.Clone(filestest.PNG), make([]byte, 1000)...), len(filestest.PNG))))
		}},
		{name: "text uploaded as image/png", want: "error:bad-request", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, e.upload(e.alice, e.bob, "image/png", []byte("<svg onload=alert(1)>xx"), 23)))
		}},
		{name: "fileKey never uploaded", want: "error:not-found", run: func(e *hostileEnv) string {
			return e.ws(e.a, fileFrame(e.bob, e.upload(e.alice, e.bob, "image/png", nil, 10)))
		}},
		// The embedded S3 of the local stack checks no signature: the Origin
		// check keeps other web pages away from it.
		{name: "local S3: list the bucket from https://evil.example", want: "http:403", run: func(e *hostileEnv) string {
			return e.s3("GET", "?list-type=2")
		}},
		{name: "local S3: read an upload from https://evil.example", want: "http:403", run: func(e *hostileEnv) string {
			return e.s3("GET", "/"+e.upload(e.alice, e.bob, "image/png", filestest.PNG, len(filestest.PNG)))
		}},
		{name: "local S3: overwrite an upload from https://evil.example", want: "http:403", run: func(e *hostileEnv) string {
			return e.s3("PUT", "/"+e.upload(e.alice, e.bob, "image/png", filestest.PNG, len(filestest.PNG)))
		}},
		{name: "local S3: delete an upload from https://evil.example", want: "http:403", run: func(e *hostileEnv) string {
			return e.s3("DELETE", "/"+e.upload(e.alice, e.bob, "image/png", filestest.PNG, len(filestest.PNG)))
		}},
	}
	for _, action := range anonOnly {
		cases = append(cases, hostileCase{name: action + " before logging in", want: "error:unauthorized", run: func(e *hostileEnv) string {
			return e.ws(e.anon, map[string]string{"action": action, "to": e.bob.UserID, "content": "x", "room": "bar", "msg": "x",
				"messageId": e.bobToAlice, "avatar": "x", "fileKey": "k", "fileName": "f.png", "fileType": "image/png", "messageType": "image"})
		}})
	}
	runHostile(t, e, cases)
	if len(cases) < 40 {
		t.Fatalf("%d hostile inputs, want at least 40", len(cases))
	}
	t.Logf("%d hostile inputs", len(cases))
}

// waitForFreshMinute returns once at least need is left of the current
// minute, so that a test of the fixed one-minute windows of the login and
// registration limits does not straddle two windows.
func waitForFreshMinute(need time.Duration) {
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < need {
		time.Sleep(left + 100*time.Millisecond)
	}
}

// TestHostileFloods floods the limits: sends per user, failed logins per
// username and per source address, registrations per source address. The
// send bucket refills slowly here (one token an hour) so that the answer
// does not depend on how fast the machine is; the burst is the default 5.
func TestHostileFloods(t *testing.T) {
	waitForFreshMinute(20 * time.Second)
	e := newHostileEnv(t, chat.Limits{SendRate: 1.0 / 3600, SendBurst: chat.DefaultSendBurst, RegistersPerIP: 6})
	// The setup spent one send of bob and three registrations of 127.0.0.1.
	var flood []string
	copies := 0
	cases := []hostileCase{
		{name: "message flood from two connections: the 6th", want: "error:rate-limited", run: func(e *hostileEnv) string {
			for i := range chat.DefaultSendBurst {
				msg := fmt.Sprintf("flood %d", i)
				got, n := e.send([]*client{e.a, e.a2}[i%2], map[string]string{"action": "private-message", "to": e.bob.UserID, "content": msg, "id": msg})
				if got != "ack" {
					e.t.Fatalf("send %d: %s", i, got)
				}
				flood, copies = append(flood, msg), copies+n
			}
			got, n := e.send(e.a, map[string]string{"action": "private-message", "to": e.bob.UserID, "content": "one too many"})
			copies += n
			return got
		}, stored: func(e *hostileEnv, _ string) {
			// Sends from two connections are two invocations, whose
			// deliveries may overtake each other: bob gets all of them,
			// in some order (seq puts them back in order).
			var got []string
			for range flood {
				got = append(got, e.b.expect("private-message")["content"].(string))
			}
			slices.Sort(got)
			if !slices.Equal(got, flood) {
				e.t.Errorf("bob got %q, want %q", got, flood)
			}
			// Each accepted send reaches the sender's other connection.
			for _, c := range []*client{e.a, e.a2} {
				copies += len(drain(c))
			}
			if copies != len(flood) {
				e.t.Errorf("alice's devices got %d copies, want %d", copies, len(flood))
			}
			var page struct{ Messages []map[string]any }
			e.s.call("GET", "/api/conversations/"+e.bob.UserID+"/messages?limit=100", e.alice.Token, nil, &page)
			if len(page.Messages) != len(flood)+1 { // and bob's setup message
				e.t.Errorf("%d messages stored, want %d", len(page.Messages), len(flood)+1)
			}
			for _, m := range page.Messages {
				if m["content"] == "one too many" {
					e.t.Error("the refused send was stored")
				}
			}
		}},
		{name: "HTTP send after the flood: same bucket", want: "http:429:rate-limited", run: func(e *hostileEnv) string {
			return e.http("POST", "/api/conversations/"+e.bob.UserID+"/messages", e.alice.Token, map[string]string{"content": "over http"})
		}},
		{name: "resend of an accepted id after the flood", want: "ack", run: func(e *hostileEnv) string {
			return e.ws(e.a, map[string]string{"action": "private-message", "to": e.bob.UserID, "content": "flood 0", "id": "flood 0"})
		}},
		{name: "6th login of a username after 5 failures, right password", want: "http:429:rate-limited", run: func(e *hostileEnv) string {
			for i := range chat.DefaultLoginFailsPerUser {
				if got := e.http("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "wrong-password"}); got != "http:401:unauthorized" {
					e.t.Fatalf("failure %d: %s", i, got)
				}
			}
			return e.http("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": "password123"})
		}},
		{name: "login from an address after 20 failures", want: "http:429:rate-limited", run: func(e *hostileEnv) string {
			// Five failures were counted for 127.0.0.1 above.
			for i := chat.DefaultLoginFailsPerUser; i < chat.DefaultLoginFailsPerIP; i++ {
				if got := e.http("POST", "/api/auth/login", "", map[string]string{"username": fmt.Sprintf("nobody%02d", i), "password": "wrong-password"}); got != "http:401:unauthorized" {
					e.t.Fatalf("failure %d: %s", i, got)
				}
			}
			return e.http("POST", "/api/auth/login", "", map[string]string{"username": "bob", "password": "password123"})
		}},
		{name: "7th registration from an address within a minute", want: "http:429:rate-limited", run: func(e *hostileEnv) string {
			for i := 4; i <= 6; i++ {
				if got := e.http("POST", "/api/auth/register", "", map[string]string{"username": fmt.Sprintf("bulk%d", i), "password": "password123"}); got != "http:201" {
					e.t.Fatalf("registration %d: %s", i, got)
				}
			}
			return e.http("POST", "/api/auth/register", "", map[string]string{"username": "bulk7", "password": "password123"})
		}, stored: func(e *hostileEnv, _ string) {
			var users []map[string]any
			e.s.call("GET", "/api/users?prefix=bulk", e.alice.Token, nil, &users)
			if len(users) != 3 {
				e.t.Errorf("users %v, want bulk4..bulk6", users)
			}
		}},
	}
	runHostile(t, e, cases)
}

// send sends frame on c and returns the answer and how many copies of
// alice's sends from her other connection arrived before it.
func (e *hostileEnv) send(c *client, frame any) (string, int) {
	e.t.Helper()
	c.send(frame)
	for n := 0; ; n++ {
		f := c.next()
		if f["type"] != "private-message" {
			return answer(f), n
		}
	}
}

// TestHostileOriginsAllowed shows the other side of the Origin check: the
// server's own origin and clients without an Origin are let in.
func TestHostileOriginsAllowed(t *testing.T) {
	e := newHostileEnv(t, chat.Limits{})
	for name, header := range map[string]http.Header{
		"own origin": {"Origin": {e.s.srv.URL}},
		"no origin":  nil,
	} {
		if got := e.handshake("?token="+e.alice.Token, header); got != "handshake:101" {
			t.Errorf("%s: %s", name, got)
		}
	}
}
