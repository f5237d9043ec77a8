package edge_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/testenv"
)

const methodArn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/ws/$connect"

func authorizerRequest(query, headers map[string]string) edge.AuthorizerRequest {
	return edge.AuthorizerRequest{
		Type: "REQUEST", MethodArn: methodArn, Headers: headers, QueryStringParameters: query,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{ConnectionID: "c1", RequestID: "r1", RouteKey: "$connect", EventType: "CONNECT"},
	}
}

// wantAllow checks an Allow policy on exactly the $connect method.
func wantAllow(t *testing.T, resp events.APIGatewayCustomAuthorizerResponse, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	st := resp.PolicyDocument.Statement
	if resp.PolicyDocument.Version != "2012-10-17" || len(st) != 1 || st[0].Effect != "Allow" ||
		len(st[0].Action) != 1 || st[0].Action[0] != "execute-api:Invoke" || len(st[0].Resource) != 1 || st[0].Resource[0] != methodArn {
		t.Fatalf("policy = %+v", resp.PolicyDocument)
	}
}

func TestAuthorize(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	ctx := t.Context()
	alice := chat.Identity{UserID: aliceID, Username: "alice"}

	t.Run("NoTokenIsAnonymous", func(t *testing.T) {
		resp, err := fx.ws.Authorize(ctx, authorizerRequest(nil, map[string]string{"Origin": allowedOrigin}))
		wantAllow(t, resp, err)
		if resp.PrincipalID != "anonymous" || resp.Context != nil {
			t.Fatalf("principal %q, context %v; want anonymous without context", resp.PrincipalID, resp.Context)
		}
	})
	for name, req := range map[string]edge.AuthorizerRequest{
		"QueryToken": authorizerRequest(map[string]string{"token": fx.alice.Token}, nil),
		"SubprotocolToken": authorizerRequest(nil, map[string]string{
			"Sec-WebSocket-Protocol": edge.Subprotocol + ", " + fx.alice.Token,
		}),
		"SubprotocolHeaderInAnyCase": authorizerRequest(nil, map[string]string{
			"sec-websocket-protocol": fx.alice.Token + "," + edge.Subprotocol,
		}),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := fx.ws.Authorize(ctx, req)
			wantAllow(t, resp, err)
			if resp.PrincipalID != aliceID || len(resp.Context) != 2 || resp.Context["userId"] != aliceID || resp.Context["username"] != "alice" {
				t.Fatalf("principal %q, context %v", resp.PrincipalID, resp.Context)
			}
		})
	}
	t.Run("QueryTokenWinsOverSubprotocol", func(t *testing.T) {
		resp, err := fx.ws.Authorize(ctx, authorizerRequest(map[string]string{"token": fx.bob.Token},
			map[string]string{"Sec-WebSocket-Protocol": edge.Subprotocol + ", " + fx.alice.Token}))
		wantAllow(t, resp, err)
		if resp.Context["userId"] != bobID {
			t.Fatalf("context %v, want bob's", resp.Context)
		}
	})

	noneToken := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(fx.alice.Token, ".")[1] + "."
	bad := map[string]string{
		"garbage":           "garbage",
		"three dots":        "a.b.c",
		"alg none":          noneToken,
		"unsigned":          strings.TrimSuffix(fx.alice.Token, strings.Split(fx.alice.Token, ".")[2]),
		"expired":           issue(t, testSecret, alice, time.Now().Add(-25*time.Hour)),
		"not yet valid":     issue(t, testSecret, alice, time.Now().Add(time.Hour)),
		"another secret":    issue(t, otherSecret, alice, time.Now()),
		"tampered payload":  tamper(t, fx.alice.Token),
		"truncated":         fx.alice.Token[:len(fx.alice.Token)-3],
		"secret as a token": string(testSecret),
	}
	for name, token := range bad {
		for where, req := range map[string]edge.AuthorizerRequest{
			"query":       authorizerRequest(map[string]string{"token": token}, nil),
			"subprotocol": authorizerRequest(nil, map[string]string{"Sec-WebSocket-Protocol": edge.Subprotocol + "," + token}),
		} {
			if where == "subprotocol" && strings.Count(token, ".") != 2 {
				continue // not taken for a token: the connection is anonymous
			}
			t.Run("Refuses/"+name+"/"+where, func(t *testing.T) {
				resp, err := fx.ws.Authorize(ctx, req)
				if err == nil || err.Error() != "Unauthorized" {
					t.Fatalf("err = %v, want exactly Unauthorized (API Gateway's 401)", err)
				}
				if resp.PrincipalID != "" || resp.Context != nil || len(resp.PolicyDocument.Statement) != 0 {
					t.Fatalf("refusal carries a policy: %+v", resp)
				}
			})
		}
	}
}

// tamper changes the token's username without re-signing it.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["name"], claims["sub"] = "bob", bobID
	b, _ := json.Marshal(claims)
	parts[1] = encodeSegment(b)
	return strings.Join(parts, ".")
}

func TestConnect(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	ctx := t.Context()
	// joinroom answers an update naming the connection's user, or
	// unauthorized: it tells who, if anyone, a connection speaks for.
	whoIs := func(t *testing.T, conn string) string {
		t.Helper()
		fx.push.Take()
		if _, err := fx.ws.Action(protocol.ActionJoinRoom)(ctx, wsEvent(conn, protocol.ActionJoinRoom, `{"action":"joinroom","room":"whois-`+conn+`"}`)); err != nil {
			t.Fatal(err)
		}
		var reply *testenv.Pushed
		for _, p := range fx.push.Take() {
			if p.Conn == conn && reply == nil {
				reply = &p
			}
		}
		if reply == nil {
			t.Fatalf("no reply to %s", conn)
		}
		m := checkFrame(t, *reply)
		if m["type"] == protocol.TypeError {
			return "code:" + m["code"].(string)
		}
		seats := m["seats"].([]any)
		return seats[0].(map[string]any)["username"].(string)
	}
	connect := func(t *testing.T, conn string, edit func(*events.APIGatewayWebsocketProxyRequest)) events.APIGatewayProxyResponse {
		t.Helper()
		ev := wsEvent(conn, "$connect", "")
		ev.Headers = map[string]string{}
		edit(&ev)
		resp, err := fx.ws.Connect(ctx, ev)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		return resp
	}
	// The authorizer context as API Gateway delivers it: JSON, with the
	// principalId and latency it adds.
	var authorizer any
	if err := json.Unmarshal([]byte(`{"userId":"`+bobID+`","username":"bob","principalId":"`+bobID+`","integrationLatency":12}`), &authorizer); err != nil {
		t.Fatal(err)
	}

	t.Run("IdentityFromAuthorizerContext", func(t *testing.T) {
		resp := connect(t, "c-authz", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.RequestContext.Authorizer = authorizer
		})
		if resp.StatusCode != 200 || whoIs(t, "c-authz") != "bob" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("AuthorizerContextWinsOverQueryToken", func(t *testing.T) {
		// The authorizer already judged the token; $connect does not again.
		resp := connect(t, "c-authz-token", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.RequestContext.Authorizer = authorizer
			ev.QueryStringParameters = map[string]string{"token": "expired-or-garbage"}
		})
		if resp.StatusCode != 200 || whoIs(t, "c-authz-token") != "bob" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("AnonymousAuthorizerContext", func(t *testing.T) {
		// An authorizer that let an anonymous connection in leaves only
		// principalId: the connection stays anonymous.
		resp := connect(t, "c-anon", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.RequestContext.Authorizer = map[string]any{"principalId": "anonymous"}
		})
		if resp.StatusCode != 200 || whoIs(t, "c-anon") != "code:"+protocol.CodeUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("PartialAuthorizerContextIsNoIdentity", func(t *testing.T) {
		resp := connect(t, "c-partial", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.RequestContext.Authorizer = map[string]any{"userId": bobID}
		})
		if resp.StatusCode != 200 || whoIs(t, "c-partial") != "code:"+protocol.CodeUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("QueryTokenWithoutAuthorizer", func(t *testing.T) {
		resp := connect(t, "c-token", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.QueryStringParameters = map[string]string{"token": fx.alice.Token}
		})
		if resp.StatusCode != 200 || whoIs(t, "c-token") != "alice" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("SubprotocolTokenIsEchoed", func(t *testing.T) {
		resp := connect(t, "c-sub", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.Headers["Sec-WebSocket-Protocol"] = edge.Subprotocol + ", " + fx.alice.Token
		})
		if resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != edge.Subprotocol || whoIs(t, "c-sub") != "alice" {
			t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Headers)
		}
	})
	t.Run("BadTokenWithoutAuthorizer", func(t *testing.T) {
		resp := connect(t, "c-bad", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.QueryStringParameters = map[string]string{"token": issue(t, otherSecret, chat.Identity{UserID: aliceID, Username: "alice"}, time.Now())}
		})
		if resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
	t.Run("ForeignOriginRefusedEvenWhenAuthorized", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "null", allowedOrigin + ".evil.example", "http://chat.example"} {
			resp := connect(t, "c-evil", func(ev *events.APIGatewayWebsocketProxyRequest) {
				ev.RequestContext.Authorizer = authorizer
				ev.Headers["Origin"] = origin
			})
			if resp.StatusCode != 403 {
				t.Fatalf("Origin %q: status %d, want 403", origin, resp.StatusCode)
			}
		}
		if got := whoIs(t, "c-evil"); got != "code:"+protocol.CodeUnauthorized {
			t.Fatalf("a refused connection was recorded: %s", got)
		}
	})
	t.Run("AllowedOrigin", func(t *testing.T) {
		resp := connect(t, "c-origin", func(ev *events.APIGatewayWebsocketProxyRequest) {
			ev.Headers["origin"] = "HTTPS://CHAT.EXAMPLE"
			ev.QueryStringParameters = map[string]string{"token": fx.alice.Token}
		})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestOrigins(t *testing.T) {
	o := edge.ParseOrigins(" https://chat.example/ ,http://localhost:8080,, ")
	for origin, want := range map[string]bool{
		"":                                  true, // mobile and CLI clients send none
		"https://chat.example":              true,
		"HTTPS://Chat.Example":              true,
		"http://localhost:8080":             true,
		"https://chat.example.evil.example": false,
		"https://evil.example":              false,
		"http://chat.example":               false,
		"https://chat.example:443":          false,
		"null":                              false,
		"*":                                 false,
		"http://localhost:8081":             false,
	} {
		if got := o.Allowed(origin); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if !edge.ParseOrigins("*").Allowed("https://anything.example") {
		t.Error(`"*" does not allow every origin`)
	}
	if edge.ParseOrigins("").Allowed("https://chat.example") {
		t.Error("an empty list allows a browser origin")
	}
}

func TestClassifyNeverShowsInternalText(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    string
		status  int
		message string
	}{
		{&chat.InputError{Field: "content", Rule: "1 to 1000 characters"}, protocol.CodeBadRequest, 400, "content: 1 to 1000 characters"},
		{wrap(&chat.InputError{Field: "to", Rule: "not a valid id"}), protocol.CodeBadRequest, 400, "to: not a valid id"},
		{wrap(&chat.Refusal{Kind: chat.ErrForbidden, Reason: "take a seat in the room first"}), protocol.CodeForbidden, 403, "take a seat in the room first"},
		{wrap(chat.ErrRateLimited), protocol.CodeRateLimited, 429, "too many requests, slow down"},
		{wrap(chat.ErrUnauthorized), protocol.CodeUnauthorized, 401, "authentication required"},
		{errorString("boltstore: open /var/data/chat.db: timeout"), protocol.CodeInternal, 500, "internal error, please retry"},
		{wrap(errorString("dynamostore: ConditionalCheckFailedException")), protocol.CodeInternal, 500, "internal error, please retry"},
	} {
		code, status, msg := edge.Classify(tc.err)
		if code != tc.code || status != tc.status || msg != tc.message {
			t.Errorf("Classify(%v) = %s %d %q, want %s %d %q", tc.err, code, status, msg, tc.code, tc.status, tc.message)
		}
		if why := safeMessage(msg); why != "" {
			t.Errorf("Classify(%v): %s: %q", tc.err, why, msg)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// decodeSegment and encodeSegment convert a JWT segment.
func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func encodeSegment(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }

// wrap wraps err as the service does, with text that must not be shown.
func wrap(err error) error {
	return &wrapped{err: err, text: "group message: rate limit: token is malformed: " + err.Error()}
}

type wrapped struct {
	err  error
	text string
}

func (w *wrapped) Error() string { return w.text }
func (w *wrapped) Unwrap() error { return w.err }
