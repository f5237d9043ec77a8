package edge_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// FuzzWebSocketFrame sends arbitrary bytes as the body of a MESSAGE event
// to a WebSocket route handler (the $default one or an action's), from
// alice's, bob's or an anonymous connection. The seeds are in
// testdata/fuzz/FuzzWebSocketFrame. Whatever the body, the handler must
// not panic, must answer 200, and must push only well-formed frames: one
// JSON object each, with a protocol type; an error frame carries a listed
// code (never `internal`: the store is healthy) and a message without
// internal text; a refused request delivers nothing to anyone else.
func FuzzWebSocketFrame(f *testing.F) {
	fx := newFixture(f, f.TempDir())
	routes := append([]string{"$default"}, fx.ws.Actions()...)
	conns := []string{connAlice, connBob, connAnon}
	index := func(route string) uint8 { return uint8(slices.Index(routes, route)) }
	// Seeds that need a token issued now cannot be checked in.
	f.Add(index(protocol.ActionLogin), uint8(2), []byte(`{"action":"login","id":"l","token":"`+fx.alice.Token+`"}`))
	f.Add(index(protocol.ActionLogin), uint8(0), []byte(`{"action":"login","token":"`+fx.bob.Token+`"}`))
	f.Add(index(protocol.ActionLogin), uint8(2), []byte(`{"action":"login","token":"`+issue(f, otherSecret, chat.Identity{UserID: aliceID, Username: "alice"}, time.Now())+`"}`))
	f.Add(index(protocol.ActionLogin), uint8(2), []byte(`{"action":"login","token":"`+issue(f, testSecret, chat.Identity{UserID: aliceID, Username: "alice"}, time.Now().Add(-48*time.Hour))+`"}`))

	f.Fuzz(func(t *testing.T, route, conn uint8, body []byte) {
		ctx := context.Background()
		name := routes[int(route)%len(routes)]
		caller := conns[int(conn)%len(conns)]
		handler := fx.ws.Default
		if name != "$default" {
			handler = fx.ws.Action(name)
		}
		resp, err := handler(ctx, wsEvent(caller, name, string(body)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s from %s: status %d, err %v", name, caller, resp.StatusCode, err)
		}
		frames := fx.push.Take()
		var replies []map[string]any
		others := 0
		for _, p := range frames {
			m := checkFrame(t, p)
			if p.Conn == caller {
				replies = append(replies, m)
			} else {
				others++
			}
		}
		if len(replies) == 0 {
			t.Fatalf("%s from %s: no reply to %q", name, caller, body)
		}
		failed := replies[0]["type"] == protocol.TypeError
		if failed && (len(replies) != 1 || others != 0) {
			t.Fatalf("%s from %s: a refused request sent %d replies and %d frames to others", name, caller, len(replies), others)
		}
		if caller == connAnon {
			switch name {
			case protocol.ActionLogin:
				// The anonymous connection must stay anonymous for the next input.
				if _, err := fx.ws.Connect(ctx, wsEvent(connAnon, "$connect", "")); err != nil {
					t.Fatal(err)
				}
			case protocol.ActionPing:
			default:
				// Malformed or not, nothing but unauthorized: who has not
				// logged in learns nothing of a route's input rules.
				if code := replies[0]["code"]; !failed || code != protocol.CodeUnauthorized {
					t.Fatalf("%s from an anonymous connection answered %v", name, replies[0])
				}
			}
		}
	})
}

// httpRouteKeys are the HTTP API's routes, as template.yaml declares them,
// sorted: the seeds' route numbers index this list.
var httpRouteKeys = func() []string {
	tpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		panic(err)
	}
	routes, err := tpl.HTTPRoutes()
	if err != nil {
		panic(err)
	}
	keys := make([]string, len(routes))
	for i, r := range routes {
		keys[i] = r.RouteKey()
	}
	slices.Sort(keys)
	return keys
}()

// httpStatuses are the statuses the HTTP API documents.
var httpStatuses = []int{200, 201, 204, 400, 401, 403, 404, 409, 413, 429}

// FuzzHTTPAPI sends arbitrary requests through edge.HTTP.Handle: a route
// key (a real one or any string), path parameters, query string, body
// (text, base64, or wrongly flagged base64), headers, source IP and an
// Authorization of alice, bob, a token signed with another secret or
// whatever the fuzzed headers say. The seeds are in
// testdata/fuzz/FuzzHTTPAPI. Whatever the request, the handler must not
// panic, must answer a documented status (never 500: the store is
// healthy), must answer errors with a {code, message} body whose code
// matches the status and whose message has no internal text, must refuse
// every private route without a valid token, and must allow CORS only for
// the allowed origin.
func FuzzHTTPAPI(f *testing.F) {
	fx := newFixture(f, f.TempDir())
	tokens := []string{"", fx.alice.Token, fx.bob.Token,
		issue(f, otherSecret, chat.Identity{UserID: aliceID, Username: "alice"}, time.Now())}

	f.Fuzz(func(t *testing.T, route uint8, rawKey, param, query string, body []byte, headers string, mode uint8) {
		ev := httpEvent(route, rawKey, param, query, body, headers, mode)
		if token := tokens[mode&3]; token != "" {
			setHeader(ev.Headers, "Authorization", "Bearer "+token)
		}
		resp, err := fx.http.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s: err %v", ev.RouteKey, err)
		}
		fx.push.Take()
		checkHTTPResponse(t, ev, resp)
		known := slices.Contains(httpRouteKeys, ev.RouteKey)
		switch {
		case !known && resp.StatusCode != 404:
			t.Fatalf("unknown route %q answered %d", ev.RouteKey, resp.StatusCode)
		case known && !strings.HasPrefix(ev.RouteKey, "POST /api/auth/") && (mode&3 == 0 || mode&3 == 3) && resp.StatusCode != 401 &&
			!(resp.StatusCode == 400 && mode>>2&3 == 2):
			// A body API Gateway flagged as base64 but is not is refused
			// before the token is looked at; API Gateway never sends one.
			t.Fatalf("%s without a valid token answered %d: %s", ev.RouteKey, resp.StatusCode, resp.Body)
		}
	})
}

// httpEvent builds the payload format 2.0 event of a fuzzed request. mode
// bits 2-3 choose the body encoding, bits 4-7 the source address.
func httpEvent(route uint8, rawKey, param, query string, body []byte, headers string, mode uint8) events.APIGatewayV2HTTPRequest {
	key := rawKey
	if int(route) < len(httpRouteKeys) {
		key = httpRouteKeys[route]
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: key, RawQueryString: query, Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: key, RequestID: "fuzz",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{SourceIP: "198.51.100." + strconv.Itoa(int(mode>>4))},
		},
	}
	for _, name := range []string{"peerId", "messageId", "room"} {
		if strings.Contains(key, "{"+name+"}") {
			ev.PathParameters = map[string]string{name: param}
		}
	}
	if q, _ := url.ParseQuery(query); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	// API Gateway hands over one value per header name; so does this, as the
	// handler looks names up regardless of case.
	for _, line := range strings.Split(headers, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if _, dup := headerKey(ev.Headers, k); ok && !dup {
			ev.Headers[k] = strings.TrimSpace(v)
		}
	}
	switch mode >> 2 & 3 {
	case 1:
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	case 2:
		ev.Body, ev.IsBase64Encoded = string(body), true
	default:
		ev.Body = string(body)
	}
	return ev
}

// headerKey returns the key under which h holds name, in any case.
func headerKey(h map[string]string, name string) (string, bool) {
	for k := range h {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// setHeader sets name in h, replacing it in whatever case it was.
func setHeader(h map[string]string, name, value string) {
	if k, ok := headerKey(h, name); ok {
		delete(h, k)
	}
	h[name] = value
}

// checkHTTPResponse checks the invariants every HTTP API answer keeps.
func checkHTTPResponse(t *testing.T, ev events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if !slices.Contains(httpStatuses, resp.StatusCode) {
		t.Fatalf("%s: status %d is not documented: %s", ev.RouteKey, resp.StatusCode, resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("%s: headers %v", ev.RouteKey, resp.Headers)
	}
	origin := ""
	if k, ok := headerKey(ev.Headers, "Origin"); ok {
		origin = ev.Headers[k]
	}
	acao, cors := resp.Headers["Access-Control-Allow-Origin"]
	if want := origin != "" && edge.ParseOrigins(allowedOrigin).Allowed(origin); cors != want || (cors && acao != origin) {
		t.Fatalf("Origin %q: Access-Control-Allow-Origin %q (set %v)", origin, acao, cors)
	}
	if resp.StatusCode == 204 {
		if resp.Body != "" {
			t.Fatalf("%s: 204 with a body %q", ev.RouteKey, resp.Body)
		}
		return
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("%s: Content-Type %q", ev.RouteKey, resp.Headers["Content-Type"])
	}
	if resp.StatusCode < 400 {
		if !json.Valid([]byte(resp.Body)) {
			t.Fatalf("%s: %d body is not JSON: %s", ev.RouteKey, resp.StatusCode, resp.Body)
		}
		return
	}
	m, err := decodeObject([]byte(resp.Body))
	if err != nil {
		t.Fatalf("%s: error body %v: %s", ev.RouteKey, err, resp.Body)
	}
	code, _ := m["code"].(string)
	msg, _ := m["message"].(string)
	if len(m) != 2 || errorCodes[code] != resp.StatusCode || code == protocol.CodeInternal {
		t.Fatalf("%s: status %d with body %s", ev.RouteKey, resp.StatusCode, resp.Body)
	}
	if why := safeMessage(msg); why != "" {
		t.Fatalf("%s: %s: %s", ev.RouteKey, why, resp.Body)
	}
}
