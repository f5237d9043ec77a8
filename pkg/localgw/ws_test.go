package localgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

func TestRouteSelection(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$default", "default"), wsRoute("echo", "echo"),
	}}, map[string]any{"default": ok, "echo": ok})
	c := h.dial("", nil)
	for _, tc := range []struct{ msg, dir, routeKey string }{
		{`{"action":"echo","x":1}`, "echo", "echo"},
		{`{"action":"nope"}`, "default", "$default"},
		{`not json`, "default", "$default"},
		{`{"action":"$connect"}`, "default", "$default"},
		{`{"action":42}`, "default", "$default"},
		{`["echo"]`, "default", "$default"},
	} {
		send(t, c, tc.msg)
		ev := h.nextWS(tc.dir)
		if ev.RequestContext.RouteKey != tc.routeKey || ev.Body != tc.msg || ev.RequestContext.EventType != "MESSAGE" {
			t.Errorf("%s: got route %q body %q", tc.msg, ev.RequestContext.RouteKey, ev.Body)
		}
		if id, _ := ev.RequestContext.MessageID.(string); id == "" {
			t.Errorf("%s: no messageId", tc.msg)
		}
	}
	// Binary messages cannot be routed by their body and arrive base64-encoded.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0xff, 0x00}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if ev := h.nextWS("default"); !ev.IsBase64Encoded || ev.Body != "/wA=" {
		t.Errorf("binary message event: base64 %v body %q", ev.IsBase64Encoded, ev.Body)
	}
}

func TestNestedRouteSelectionExpression(t *testing.T) {
	h := newHarness(t, Config{
		RouteSelectionExpression: "${request.body.meta.kind}",
		WebSocketRoutes:          []samtemplate.WSRoute{wsRoute("$default", "default"), wsRoute("hello", "hello")},
	}, map[string]any{"default": ok, "hello": ok})
	c := h.dial("", nil)
	send(t, c, `{"meta":{"kind":"hello"}}`)
	if ev := h.nextWS("hello"); ev.RequestContext.RouteKey != "hello" {
		t.Errorf("route key %q", ev.RequestContext.RouteKey)
	}
}

func TestUnknownRouteWithoutDefaultIsForbidden(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$connect", "connect"), wsRoute("echo", "echo"),
	}}, map[string]any{"connect": accept, "echo": ok})
	c := h.dial("", nil)
	id := h.nextWS("connect").RequestContext.ConnectionID
	send(t, c, `{"action":"other"}`)
	var frame map[string]string
	if err := json.Unmarshal([]byte(read(t, c)), &frame); err != nil {
		t.Fatalf("error frame is not JSON: %v", err)
	}
	if frame["message"] != "Forbidden" || frame["connectionId"] != id || frame["requestId"] == "" {
		t.Errorf("error frame = %v", frame)
	}
}

func TestConnectResponseDecidesHandshake(t *testing.T) {
	connect := func(ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		switch ev.QueryStringParameters["mode"] {
		case "refuse":
			return events.APIGatewayProxyResponse{StatusCode: http.StatusForbidden, Body: `{"code":"forbidden"}`,
				Headers: map[string]string{"X-Reason": "test"}}, nil
		case "fail":
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		case "protocol":
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK,
				Headers: map[string]string{"Sec-WebSocket-Protocol": ev.Headers["Sec-WebSocket-Protocol"][:4]}}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect")}},
		map[string]any{"connect": connect})

	if status, body := h.refused("mode=refuse"); status != http.StatusForbidden || body != `{"code":"forbidden"}` {
		t.Errorf("refusal: %d %q", status, body)
	}
	if status, body := h.refused("mode=fail"); status != http.StatusInternalServerError || !strings.Contains(body, "Internal server error") {
		t.Errorf("failed $connect: %d %q", status, body)
	}
	c := h.dial("mode=protocol", &websocket.DialOptions{Subprotocols: []string{"chat", "token.abc"}})
	if c.Subprotocol() != "chat" {
		t.Errorf("subprotocol = %q, want the one $connect returned", c.Subprotocol())
	}
	c = h.dial("", &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if c.Subprotocol() != "" {
		t.Errorf("subprotocol = %q although $connect returned none", c.Subprotocol())
	}
}

func TestOriginCheck(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect")},
		CheckOrigin:     func(r *http.Request) bool { return r.Header.Get("Origin") != "http://evil.example" },
	}, map[string]any{"connect": accept})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL(""), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("evil origin: err %v, response %v", err, resp)
	}
	h.dial("", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://good.example"}}})
	h.nextWS("connect")
}

func TestAuthorizerContextReachesEveryEvent(t *testing.T) {
	authorize := func(req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		effect := "Allow"
		switch req.QueryStringParameters["token"] {
		case "bad":
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
		case "broken":
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("database down")
		case "deny":
			effect = "Deny"
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: "user-1",
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
				{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{req.MethodArn}},
			}},
			Context: map[string]any{"userId": "u1", "admin": true},
		}, nil
	}
	connectRoute := wsRoute("$connect", "connect")
	connectRoute.Authorizer = &samtemplate.Authorizer{LogicalID: "Auth", FunctionLogicalID: "AuthFunction",
		CodeURI: "functions/auth/", IdentitySources: []string{"route.request.querystring.token"}}
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		connectRoute, wsRoute("$default", "default"), wsRoute("$disconnect", "disconnect"),
	}}, map[string]any{"auth": authorize, "connect": accept, "default": ok, "disconnect": ok})

	if status, _ := h.refused(""); status != http.StatusUnauthorized {
		t.Errorf("missing identity source: %d, want 401", status)
	}
	for token, want := range map[string]int{"bad": 401, "deny": 403, "broken": 500} {
		if status, _ := h.refused("token=" + token); status != want {
			t.Errorf("token %s: %d, want %d", token, status, want)
		}
		h.next("auth")
	}

	c := h.dial("token=good", nil)
	var authReq events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(h.next("auth"), &authReq); err != nil {
		t.Fatalf("authorizer event: %v", err)
	}
	if authReq.Type != "REQUEST" || !strings.HasSuffix(authReq.MethodArn, "/"+DefaultStage+"/$connect") ||
		authReq.QueryStringParameters["token"] != "good" || authReq.RequestContext.APIID != DefaultAPIID ||
		authReq.RequestContext.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("authorizer event = %+v", authReq)
	}
	send(t, c, "hi")
	_ = c.Close(websocket.StatusNormalClosure, "")
	for _, dir := range []string{"connect", "default", "disconnect"} {
		auth, _ := h.nextWS(dir).RequestContext.Authorizer.(map[string]any)
		if auth["userId"] != "u1" || auth["admin"] != true || auth["principalId"] != "user-1" {
			t.Errorf("%s event authorizer = %v", dir, auth)
		}
	}
}

func TestPolicyMatching(t *testing.T) {
	arn := "arn:aws:execute-api:us-east-1:123456789012:abc/ws/$connect"
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{arn, true}, {"*", true}, {"arn:aws:execute-api:us-east-1:123456789012:abc/*", true},
		{"arn:aws:execute-api:*:*:abc/ws/$conne?t", true}, {"arn:aws:execute-api:us-east-1:123456789012:other/*", false},
		{"arn:aws:execute-api:us-east-1:123456789012:abc/ws/$default", false}, {"", false},
	} {
		if got := matchesAny([]string{tc.pattern}, arn, false); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.pattern, got, tc.want)
		}
	}
	if !matchesAny([]string{"Execute-Api:*"}, "execute-api:Invoke", true) {
		t.Error("action wildcard did not match")
	}
}

// Messages of one connection are invoked one at a time, in order; another
// connection is not held up by them.
func TestPerConnectionOrdering(t *testing.T) {
	var (
		mu      sync.Mutex
		order   = map[string][]int{}
		running = map[string]*atomic.Int32{}
		overlap atomic.Bool
		release = make(chan struct{})
		handled = make(chan struct{}, 256)
	)
	seq := func(ev events.APIGatewayWebsocketProxyRequest) error {
		id := ev.RequestContext.ConnectionID
		mu.Lock()
		if running[id] == nil {
			running[id] = &atomic.Int32{}
		}
		r := running[id]
		mu.Unlock()
		if r.Add(1) > 1 {
			overlap.Store(true)
		}
		defer r.Add(-1)
		var body struct{ N int }
		_ = json.Unmarshal([]byte(ev.Body), &body)
		if body.N%3 == 0 {
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		order[id] = append(order[id], body.N)
		mu.Unlock()
		handled <- struct{}{}
		return nil
	}
	block := func(events.APIGatewayWebsocketProxyRequest) error {
		<-release
		return nil
	}
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$connect", "connect"), wsRoute("seq", "seq"), wsRoute("block", "block"),
	}}, map[string]any{"connect": accept, "seq": seq, "block": block})

	a, b := h.dial("", nil), h.dial("", nil)
	idA, idB := h.nextWS("connect").RequestContext.ConnectionID, h.nextWS("connect").RequestContext.ConnectionID
	const n = 30
	for i := range n {
		send(t, a, fmt.Sprintf(`{"action":"seq","n":%d}`, i))
		send(t, b, fmt.Sprintf(`{"action":"seq","n":%d}`, i))
	}
	awaitHandled := func(count int) {
		for range count {
			select {
			case <-handled:
			case <-time.After(wait):
				t.Fatal("seq messages were not all handled")
			}
		}
	}
	awaitHandled(2 * n)
	send(t, a, `{"action":"block"}`)
	h.next("block")
	// a is stuck in "block"; b must still be served.
	send(t, b, `{"action":"seq","n":100}`)
	awaitHandled(1)
	close(release)
	send(t, a, `{"action":"seq","n":100}`)
	awaitHandled(1)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{idA, idB} {
		got := order[id]
		if len(got) != n+1 {
			t.Fatalf("connection %s: %d invocations, want %d", id, len(got), n+1)
		}
		for i := range n {
			if got[i] != i {
				t.Fatalf("connection %s: order %v", id, got)
			}
		}
	}
	if overlap.Load() {
		t.Error("two messages of one connection were invoked concurrently")
	}
}

func TestInvocationFailuresSendErrorFrame(t *testing.T) {
	slow := func(ctx context.Context, _ events.APIGatewayWebsocketProxyRequest) error {
		<-ctx.Done()
		return ctx.Err()
	}
	fail := func(events.APIGatewayWebsocketProxyRequest) error { return errors.New("boom") }
	crash := func(events.APIGatewayWebsocketProxyRequest) error { panic("crash") }
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("slow", "slow"), wsRoute("fail", "fail"), wsRoute("crash", "crash")},
		Limits:          Limits{IntegrationTimeout: 50 * time.Millisecond},
	}, map[string]any{"slow": slow, "fail": fail, "crash": crash})
	c := h.dial("", nil)
	for _, route := range []string{"slow", "fail", "crash"} {
		send(t, c, fmt.Sprintf(`{"action":%q}`, route))
		ev := h.nextWS(route)
		var frame map[string]string
		if err := json.Unmarshal([]byte(read(t, c)), &frame); err != nil {
			t.Fatalf("%s: error frame is not JSON: %v", route, err)
		}
		if frame["message"] != "Internal server error" || frame["connectionId"] != ev.RequestContext.ConnectionID ||
			frame["requestId"] != ev.RequestContext.RequestID {
			t.Errorf("%s: error frame = %v", route, frame)
		}
	}
}

func TestFrameOverLimitClosesWith1009(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$default", "default"), wsRoute("$disconnect", "disconnect")},
		Limits:          Limits{FrameBytes: 64, MessageBytes: 256},
	}, map[string]any{"default": ok, "disconnect": ok})

	// A message within both limits, sent as frames within the frame limit,
	// goes through.
	c := h.dial("", nil)
	writeFrames(t, c, strings.Repeat("a", 200), 50)
	if ev := h.nextWS("default"); len(ev.Body) != 200 {
		t.Fatalf("fragmented message arrived with %d bytes", len(ev.Body))
	}
	send(t, c, strings.Repeat("b", 65))
	if code := closeStatus(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	if ev := h.nextWS("disconnect"); ev.RequestContext.DisconnectStatusCode != 1009 {
		t.Errorf("$disconnect status %d, want 1009", ev.RequestContext.DisconnectStatusCode)
	}
}

func TestMessageOverLimitClosesWith1009(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$default", "default"), wsRoute("$disconnect", "disconnect")},
		Limits:          Limits{FrameBytes: 64, MessageBytes: 256},
	}, map[string]any{"default": ok, "disconnect": ok})
	c := h.dial("", nil)
	c.SetReadLimit(-1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// Every frame is within the frame limit; the message is not.
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	for range 6 {
		if _, err := w.Write([]byte(strings.Repeat("c", 50))); err != nil {
			break
		}
	}
	_ = w.Close()
	if code := closeStatus(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	if ev := h.nextWS("disconnect"); ev.RequestContext.DisconnectStatusCode != 1009 {
		t.Errorf("$disconnect status %d, want 1009", ev.RequestContext.DisconnectStatusCode)
	}
}

func writeFrames(t *testing.T, c *websocket.Conn, msg string, frame int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	for i := 0; i < len(msg); i += frame {
		if _, err := w.Write([]byte(msg[i:min(i+frame, len(msg))])); err != nil {
			t.Fatalf("write frame: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}
}

func TestIdleAndMaxDurationClose(t *testing.T) {
	for name, limits := range map[string]Limits{
		"idle":         {IdleTimeout: 50 * time.Millisecond},
		"max duration": {MaxDuration: 50 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Config{
				WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$disconnect", "disconnect")},
				Limits:          limits,
			}, map[string]any{"disconnect": ok})
			c := h.dial("", nil)
			if code := closeStatus(t, c); code != websocket.StatusGoingAway {
				t.Errorf("close code %d, want 1001", code)
			}
			if ev := h.nextWS("disconnect"); ev.RequestContext.DisconnectStatusCode != 1001 {
				t.Errorf("$disconnect status %d, want 1001", ev.RequestContext.DisconnectStatusCode)
			}
		})
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect"),
	}}, map[string]any{"connect": accept, "disconnect": ok})
	a, b := h.dial("", nil), h.dial("", nil)
	h.next("connect")
	h.next("connect")
	// The clients read, as live clients do, so they answer the close handshake.
	codes := make(chan websocket.StatusCode, 2)
	for _, c := range []*websocket.Conn{a, b} {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown returned after both $disconnect ran.
	for range 2 {
		select {
		case p := <-h.channel("disconnect"):
			var ev events.APIGatewayWebsocketProxyRequest
			_ = json.Unmarshal(p, &ev)
			if ev.RequestContext.DisconnectStatusCode != 1001 {
				t.Errorf("$disconnect status %d, want 1001", ev.RequestContext.DisconnectStatusCode)
			}
		default:
			t.Fatal("Shutdown returned before $disconnect ran")
		}
	}
	for range 2 {
		if code := <-codes; code != websocket.StatusGoingAway {
			t.Errorf("close code %d, want 1001", code)
		}
	}
	if status, _ := h.refused(""); status != http.StatusServiceUnavailable {
		t.Errorf("handshake after shutdown: %d, want 503", status)
	}
}

// TestConnectionsCountsUntilDisconnectRan: a closed connection is still
// held while its $disconnect runs, so memtrim sees a wave of closes end
// only once their work has; so is one whose upgrade failed after $connect.
func TestConnectionsCountsUntilDisconnectRan(t *testing.T) {
	finish := make(chan struct{})
	release := sync.OnceFunc(func() { close(finish) })
	defer release()
	disconnect := func(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		<-finish
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect"),
	}}, map[string]any{"connect": accept, "disconnect": disconnect})
	released := func(why string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for h.gw.Connections() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Connections %s: %d, want 0", why, h.gw.Connections())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := h.gw.Connections(); n != 0 {
		t.Fatalf("Connections before any: %d", n)
	}
	c := h.dial("", nil)
	h.next("connect")
	if n := h.gw.Connections(); n != 1 {
		t.Fatalf("Connections with one open: %d, want 1", n)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
	h.next("disconnect")
	if n := h.gw.Connections(); n != 1 {
		t.Fatalf("Connections while $disconnect runs: %d, want 1", n)
	}
	release()
	released("after $disconnect ran")

	// A handshake the gateway admits ($connect runs) but the WebSocket
	// library refuses (a version other than 13) ends in $disconnect too.
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+h.gw.cfg.WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "12")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatal("a version 12 handshake was upgraded")
	}
	h.next("connect")
	h.next("disconnect")
	released("after a failed upgrade")
}

func TestNotAWebSocketHandshake(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect")}},
		map[string]any{"connect": accept})
	resp, err := http.Get(h.srv.URL + DefaultWebSocketPath)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", resp.StatusCode)
	}
}

func TestNewRequiresAHandlerPerFunction(t *testing.T) {
	_, err := New(Config{WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$default", "default")}})
	if !errors.Is(err, ErrMissingHandler) {
		t.Errorf("New without handler: %v", err)
	}
	_, err = New(Config{RouteSelectionExpression: "$request.header.x"})
	if err == nil {
		t.Error("New accepted an unsupported route selection expression")
	}
}
