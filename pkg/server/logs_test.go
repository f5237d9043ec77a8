package server_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/logging"
)

// logBuffer collects the log records of every stack of a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// What a secret looks like in a log line that leaks it.
var (
	leakedJWT       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	leakedSignature = regexp.MustCompile(`(?i)x-amz-(signature|credential|security-token)=([^\[&"\s\\]|\\u0026|$)`)
)

// TestLogsHoldNoSecrets runs the end-to-end scenarios, and the refusals
// that log on purpose (bad tokens, wrong passwords, refused uploads), with
// the server's logger captured, and checks that no token, password or
// presigned URL signature reached the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs logBuffer
	var secrets []string
	// Registered first, so that it runs last: after every stack has shut down.
	t.Cleanup(func() { checkLogs(t, logs.String(), secrets) })
	open := func(t *testing.T) *stack {
		opts := boltOptions(t)
		opts.Settings.JWTSecret = hostileSecret
		opts.Logger = logging.New(&logs, slog.LevelDebug)
		return startStack(t, opts)
	}
	for name, scenario := range map[string]func(*testing.T, *stack){
		"PrivateChat": testPrivateChat, "HandshakeAuth": testHandshakeAuth, "LoginAction": testLoginAction,
		"Errors": testErrors, "DeleteAndAvatar": testDeleteAndAvatar, "RoomLifecycle": testRoomLifecycle,
		"HTTPAPI": testHTTPAPI, "FileMessages": testFileMessages,
	} {
		t.Run(name, func(t *testing.T) { scenario(t, open(t)) })
	}

	// Refusals that carry secrets into the handlers, with secrets this test
	// knows, so that it can look for them.
	s := open(t)
	secrets = append(secrets, "password123", "wrong-password", "sekret-in-a-body-0001")
	alice, bob := s.register("alice"), s.register("bob")
	secrets = append(secrets, alice.Token, bob.Token)
	tokens, err := auth.NewJWTTokens(hostileSecret, auth.WithClock(func() time.Time { return time.Now().Add(-48 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := tokens.Issue(chat.Identity{UserID: alice.UserID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	forged := unsigned(alice)
	secrets = append(secrets, expired, forged)
	for _, tok := range []string{expired, forged, alice.Token + "x"} {
		_, resp, err := websocket.Dial(t.Context(), s.srv.WSURL+"?token="+tok, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token at connect: %v %v", err, resp)
		}
		if st := s.call("GET", "/api/conversations", tok, nil, nil); st != http.StatusUnauthorized {
			t.Fatalf("bad bearer: %d", st)
		}
	}
	anon := s.dial(t, "")
	for _, tok := range []string{expired, forged} {
		if e := anon.request(map[string]string{"action": "login", "token": tok}); e["code"] != "unauthorized" {
			t.Fatalf("login action: %v", e)
		}
	}
	for _, pw := range []string{"wrong-password", "sekret-in-a-body-0001"} {
		if st := s.call("POST", "/api/auth/login", "", map[string]string{"username": "alice", "password": pw}, nil); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", st)
		}
	}
	b := s.dial(t, bob.Token)
	if e := b.request(map[string]string{"action": "private-message", "token": alice.Token, "to": alice.UserID, "content": `{"password":"sekret-in-a-body-0001"}`}); e["type"] != "ack" {
		t.Fatalf("message: %v", e)
	}
}

// checkLogs fails if the log lacks the refusals the test provoked (then
// the logger was not captured) or holds a secret.
func checkLogs(t *testing.T, out string, secrets []string) {
	if !strings.Contains(out, `"msg":"connect refused: bad token"`) || !strings.Contains(out, `"msg":"request refused"`) {
		t.Fatalf("the log lacks the refusals this test provoked; is the logger captured?\n%s", out)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
	if m := leakedJWT.FindString(out); m != "" {
		t.Errorf("the log holds a token: %s", m)
	}
	if m := leakedSignature.FindString(out); m != "" {
		t.Errorf("the log holds a URL signature: %s", m)
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}
