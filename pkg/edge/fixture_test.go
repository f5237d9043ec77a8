package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// testSecret signs the fixture's tokens; otherSecret signs tokens the
// fixture must refuse.
var (
	testSecret  = []byte("edge-tests-0123456789abcdef-0123456789")
	otherSecret = []byte("not-the-server-secret-0123456789abcdef")
)

// allowedOrigin is the only browser origin the fixture admits.
const allowedOrigin = "https://chat.example"

// Ids are deterministic so that checked-in fuzz seeds can name users:
// alice takes the second id and bob the third (the first was once the
// service's, and the seeds kept the numbering).
const (
	aliceID = "00000000-0000-7000-8000-000000000002"
	bobID   = "00000000-0000-7000-8000-000000000003"
)

// Connection ids of the fixture.
const (
	connAlice = "conn-alice"
	connBob   = "conn-bob"
	connAnon  = "conn-anon"
)

// fixture is the chat service over a real bolt store and an embedded S3,
// behind the edge handlers, as a Lambda runs it.
type fixture struct {
	svc    *chat.Service
	ws     *edge.WebSocket
	http   *edge.HTTP
	push   *testenv.RawPusher
	tokens *auth.JWTTokens
	alice  chat.Session
	bob    chat.Session
}

// newFixture builds a fixture in dir. alice and bob are registered, each
// has a connection, alice sits in room "bar", and one anonymous
// connection is open.
func newFixture(tb testing.TB, dir string) *fixture {
	tb.Helper()
	store, err := boltstore.Open(filepath.Join(dir, "chat.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	files := testenv.EmbeddedFiles(tb, "files")
	tokens, err := auth.NewJWTTokens(testSecret)
	if err != nil {
		tb.Fatal(err)
	}
	var n atomic.Uint64
	n.Store(1)
	log := slog.New(slog.DiscardHandler)
	f := &fixture{push: &testenv.RawPusher{}, tokens: tokens}
	f.svc, err = chat.NewService(chat.Config{
		Store: store, Limiter: memlimit.New(), Pusher: f.push, Encoder: edge.Wire{}, Tokens: tokens, Passwords: auth.BcryptPasswords{Cost: 4},
		Files: files, FilePolicy: chat.FilePolicy{MaxSize: 1 << 20}, Logger: log,
		NewID: func() string { return fmt.Sprintf("00000000-0000-7000-8000-%012x", n.Add(1)) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	origins := edge.ParseOrigins(allowedOrigin)
	f.ws = edge.NewWebSocket(f.svc, f.push, origins, log)
	f.http = edge.NewHTTP(f.svc, origins, log)
	ctx := context.Background()
	if f.alice, err = f.svc.Register(ctx, "alice", "password123", "192.0.2.1"); err != nil {
		tb.Fatal(err)
	}
	if f.bob, err = f.svc.Register(ctx, "bob", "password123", "192.0.2.1"); err != nil {
		tb.Fatal(err)
	}
	if f.alice.UserID != aliceID || f.bob.UserID != bobID {
		tb.Fatalf("ids %s, %s: the fuzz seeds expect %s, %s", f.alice.UserID, f.bob.UserID, aliceID, bobID)
	}
	for conn, token := range map[string]string{connAlice: f.alice.Token, connBob: f.bob.Token, connAnon: ""} {
		ev := wsEvent(conn, "$connect", "")
		if token != "" {
			ev.QueryStringParameters = map[string]string{"token": token}
		}
		if resp, err := f.ws.Connect(ctx, ev); err != nil || resp.StatusCode != 200 {
			tb.Fatalf("connect %s: %v, %v", conn, resp, err)
		}
	}
	if _, err := f.ws.Action(protocol.ActionJoinRoom)(ctx, wsEvent(connAlice, protocol.ActionJoinRoom, `{"action":"joinroom","room":"bar"}`)); err != nil {
		tb.Fatal(err)
	}
	f.push.Take()
	return f
}

// wsEvent is the event API Gateway sends for a client frame (or, with
// route "$connect", for a handshake).
func wsEvent(conn, route, body string) events.APIGatewayWebsocketProxyRequest {
	eventType := "MESSAGE"
	if route == "$connect" {
		eventType = "CONNECT"
	}
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RequestID: "req-" + conn, RouteKey: route, EventType: eventType,
			Identity: events.APIGatewayRequestIdentity{SourceIP: "192.0.2.10"},
		},
	}
}

// issue returns a token for id signed with secret, issued at iat.
func issue(tb testing.TB, secret []byte, id chat.Identity, iat time.Time) string {
	tb.Helper()
	tokens, err := auth.NewJWTTokens(secret, auth.WithClock(func() time.Time { return iat }))
	if err != nil {
		tb.Fatal(err)
	}
	tok, _, err := tokens.Issue(id)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// errorCodes are the codes protocol v1 lists, with the HTTP status of each.
var errorCodes = map[string]int{
	protocol.CodeBadRequest:    400,
	protocol.CodeUnknownAction: 404,
	protocol.CodeUnauthorized:  401,
	protocol.CodeForbidden:     403,
	protocol.CodeNotFound:      404,
	protocol.CodeConflict:      409,
	protocol.CodeTooLarge:      413,
	protocol.CodeRateLimited:   429,
	protocol.CodeInternal:      500,
}

// frameTypes are the server frame types of protocol v1.
var frameTypes = []string{
	protocol.TypeLoginOK, protocol.TypePong, protocol.TypeAck, protocol.TypeError,
	protocol.TypePrivateMessage, protocol.TypePrivateFileMessage, protocol.TypeMessageDeleted,
	protocol.TypeAvatarUpdated, protocol.TypeUpdate, protocol.TypeFull, protocol.TypeNotice,
	protocol.TypeGroupMessage,
}

// internalText matches what only an internal error would say: store and
// adapter names, Go runtime and encoding detail.
var internalText = regexp.MustCompile(`(?i)bolt|dynamo|s3files|s3:|embeds3|goroutine|panic|runtime|\.go:\d|json:|unexpected end|invalid character|cannot unmarshal|context (deadline|canceled)|%!|\bnil\b|0x[0-9a-f]{4,}`)

// fieldPrefix is how an input error's message starts: the field's name.
var fieldPrefix = regexp.MustCompile(`^[A-Za-z]+: `)

// safeMessage reports why an error message shown to a client is not safe,
// or "". A safe message is one of the fixed texts, a refusal reason, or an
// input error "field: rule": at most one ": ", after a bare field name.
// Wrapped Go errors ("send: rate limit: ...") have more.
func safeMessage(msg string) string {
	switch {
	case msg == "":
		return "empty message"
	case internalText.MatchString(msg):
		return "internal detail in message"
	case strings.Count(msg, ": ") > 1:
		return "wrapped error text in message"
	case strings.Contains(msg, ": ") && !fieldPrefix.MatchString(msg) && !strings.HasPrefix(msg, "send Authorization: Bearer"):
		return "error text with a prefix that is not a field name"
	}
	return ""
}

// decodeObject decodes data as exactly one JSON object.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("null instead of an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object")
	}
	return m, nil
}

// checkFrame checks one frame a handler pushed; it returns the frame.
func checkFrame(t *testing.T, p testenv.Pushed) map[string]any {
	t.Helper()
	m, err := decodeObject(p.Data)
	if err != nil {
		t.Fatalf("frame to %s: %v: %q", p.Conn, err, p.Data)
	}
	typ, _ := m["type"].(string)
	if !slices.Contains(frameTypes, typ) {
		t.Fatalf("frame to %s has no protocol type: %s", p.Conn, p.Data)
	}
	if typ != protocol.TypeError {
		return m
	}
	code, _ := m["code"].(string)
	if _, ok := errorCodes[code]; !ok || code == protocol.CodeInternal {
		t.Fatalf("error frame with code %q: %s", code, p.Data)
	}
	msg, _ := m["message"].(string)
	if why := safeMessage(msg); why != "" {
		t.Fatalf("error frame: %s: %s", why, p.Data)
	}
	if id, ok := m["id"]; ok {
		s, _ := id.(string)
		if chat.ValidClientID(s) != nil || s == "" {
			t.Fatalf("error frame echoes an invalid id: %s", p.Data)
		}
	}
	return m
}
