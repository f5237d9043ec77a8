package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/crypto/bcrypt"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// part is one part of a multipart form, as a client sent it.
type part struct {
	name, fileName string
	value          []byte
}

// formRecorder serves the embedded S3 and keeps every multipart form
// POSTed to it, parts in order, so a test sees exactly what a client
// uploaded.
type formRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	forms [][]part
}

func (f *formRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && r.Method == http.MethodPost && mt == "multipart/form-data" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var parts []part
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			v, _ := io.ReadAll(p)
			parts = append(parts, part{name: p.FormName(), fileName: p.FileName(), value: v})
		}
		f.mu.Lock()
		f.forms = append(f.forms, parts)
		f.mu.Unlock()
	}
	f.next.ServeHTTP(w, r)
}

func (f *formRecorder) take() [][]part {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.forms
	f.forms = nil
	return out
}

// harness runs the real edge handlers over a bbolt store and an embedded
// S3, and checks every frame and HTTP answer against the documents.
type harness struct {
	t       *testing.T
	async   *document
	open    *document
	actions map[string]wsMessage
	types   map[string]wsMessage
	ops     map[string]httpOperation
	ws      *edge.WebSocket
	http    *edge.HTTP
	tokens  *auth.JWTTokens
	push    *testenv.RawPusher
	// seen holds the frame types pushed, called the operations answered.
	seen   map[string]bool
	called map[string]bool
	calls  atomic.Int64
	// pushed holds the frames of the last HTTP call; order, the
	// connections and types of the last step's frames in the order they
	// were pushed.
	pushed map[string][]map[string]any
	order  []string
	// s3URL is the embedded S3's endpoint; uploads holds the forms posted to it.
	s3URL   string
	uploads *formRecorder
}

const (
	testOrigin = "http://127.0.0.1:8080"
	// testBucket is the bucket `make run` uses.
	testBucket = "minichat-files"
)

// scenarioLimits lift the send limit: the scenario sends more than the
// default burst, and TestRateLimitsAreTold has limits of its own. The
// other limits are the defaults.
var scenarioLimits = chat.Limits{SendRate: 1000, SendBurst: 1000, RegistersPerIP: 100}

func newHarness(t *testing.T, limits chat.Limits) *harness {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	tokens, err := auth.NewJWTTokens([]byte("docs-test-secret-docs-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := embeds3.Open("", testBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := objects.Close(); err != nil {
			t.Error(err)
		}
	})
	uploads := &formRecorder{next: objects}
	s3srv := httptest.NewServer(uploads)
	t.Cleanup(s3srv.Close)
	files := s3files.New(testenv.S3Client(s3srv.URL), testBucket)
	push := &testenv.RawPusher{}
	log := slog.New(slog.DiscardHandler)
	svc, err := chat.NewService(chat.Config{
		Store: store, Limiter: memlimit.New(), Pusher: push, Encoder: edge.Wire{}, Tokens: tokens, Files: files,
		Passwords: auth.BcryptPasswords{Cost: bcrypt.MinCost}, Limits: limits, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	origins := edge.Origins{testOrigin}
	h := &harness{
		t: t, async: loadDocument(t, "asyncapi.yaml"), open: loadDocument(t, "openapi.yaml"),
		ws: edge.NewWebSocket(svc, push, origins, log), http: edge.NewHTTP(svc, origins, log),
		tokens: tokens, push: push, seen: map[string]bool{}, called: map[string]bool{}, s3URL: s3srv.URL, uploads: uploads,
	}
	h.actions, h.types = wsMessages(t, h.async)
	h.ops = httpOperations(t, h.open)
	return h
}

func (h *harness) requestID() string {
	return fmt.Sprintf("req-%d", h.calls.Add(1))
}

func (h *harness) wsEvent(conn, route, eventType, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RouteKey: route, EventType: eventType, RequestID: h.requestID(),
			Identity: events.APIGatewayRequestIdentity{SourceIP: "192.0.2.10"},
		},
		Body: body,
	}
}

// connect runs $connect and returns the handshake status and the echoed
// subprotocol. Unless want is given, nobody may be pushed anything.
func (h *harness) connect(conn string, query, headers map[string]string, want ...map[string][]string) (int, string) {
	h.t.Helper()
	ev := h.wsEvent(conn, "$connect", "CONNECT", "")
	ev.QueryStringParameters, ev.Headers = query, headers
	resp, err := h.ws.Connect(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("$connect %s: %v", conn, err)
	}
	w := map[string][]string{}
	if len(want) > 0 {
		w = want[0]
	}
	h.frames("$connect "+conn, w)
	return resp.StatusCode, resp.Headers["Sec-WebSocket-Protocol"]
}

// send delivers frame from conn through the route API Gateway would pick,
// and returns what every connection received.
func (h *harness) send(conn, frame string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	var probe struct {
		Action string `json:"action"`
	}
	route, handler := "$default", edge.WSHandler(h.ws.Default)
	if json.Unmarshal([]byte(frame), &probe) == nil && slices.Contains(h.ws.Actions(), probe.Action) {
		route, handler = probe.Action, h.ws.Action(probe.Action)
	}
	resp, err := handler(context.Background(), h.wsEvent(conn, route, "MESSAGE", frame))
	if err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("%s from %s: status %d, %v", frame, conn, resp.StatusCode, err)
	}
	return h.frames(frame, want)
}

func (h *harness) disconnect(conn string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	if _, err := h.ws.Disconnect(context.Background(), h.wsEvent(conn, "$disconnect", "DISCONNECT", "")); err != nil {
		h.t.Fatalf("$disconnect %s: %v", conn, err)
	}
	return h.frames("$disconnect "+conn, want)
}

// frames takes what was pushed and checks every frame against
// asyncapi.yaml; unless want is nil, it also checks that each connection
// got frames of exactly the wanted types, in order (connections not in want
// got nothing).
func (h *harness) frames(step string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	out := map[string][]map[string]any{}
	h.order = nil
	for _, p := range h.push.Take() {
		var f map[string]any
		if err := json.Unmarshal(p.Data, &f); err != nil {
			h.t.Errorf("%s: %s got a frame that is not a JSON object: %s", step, p.Conn, p.Data)
			continue
		}
		typ := fmt.Sprint(f["type"])
		out[p.Conn] = append(out[p.Conn], f)
		h.order = append(h.order, p.Conn+" "+typ)
		m, ok := h.types[typ]
		switch {
		case !ok:
			h.t.Errorf("%s: the server sent frame type %q, which asyncapi.yaml does not describe", step, typ)
			continue
		case m.planned:
			h.t.Errorf("%s: the server sent %q, which asyncapi.yaml marks planned", step, typ)
		}
		h.seen[typ] = true
		for _, e := range h.async.validate(m.payload, f, step+" -> "+p.Conn+" "+typ) {
			h.t.Error(e)
		}
	}
	if want != nil {
		h.wantFrames(step, out, want)
	}
	return out
}

// wantFrames checks that each connection got frames of exactly the wanted
// types, in order, and that connections not in want got nothing.
func (h *harness) wantFrames(step string, got map[string][]map[string]any, want map[string][]string) {
	h.t.Helper()
	types := func(fs []map[string]any) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprint(f["type"]))
		}
		return out
	}
	for _, conn := range slices.Sorted(maps.Keys(got)) {
		if g := types(got[conn]); !slices.Equal(g, want[conn]) {
			h.t.Errorf("%s: %s got %v, want %v", step, conn, g, want[conn])
		}
	}
	for conn, w := range want {
		if len(w) > 0 && len(got[conn]) == 0 {
			h.t.Errorf("%s: %s got nothing, want %v", step, conn, w)
		}
	}
}

// pushedBefore fails unless, in the last step, the frame "conn type" first
// went out before every frame pushed to the others.
func (h *harness) pushedBefore(step, first string) {
	h.t.Helper()
	i := slices.Index(h.order, first)
	if i < 0 {
		h.t.Errorf("%s: no %q was pushed (%v)", step, first, h.order)
		return
	}
	for _, f := range h.order[:i] {
		if !strings.HasPrefix(f, strings.Fields(first)[0]+" ") {
			h.t.Errorf("%s: %q went out before %q (%v)", step, f, first, h.order)
		}
	}
}

// answered is an HTTP answer as the harness checked it.
type answered struct {
	status  int
	body    any
	headers map[string]string
}

// call sends an HTTP API request as API Gateway would (the route key from
// openapi.yaml's matching path) and checks the status and body against the
// operation's documented responses. The frames the request pushed are
// checked against asyncapi.yaml and kept in h.pushed.
func (h *harness) call(method, target, token, body string) (int, any) {
	h.t.Helper()
	a := h.request(method, target, token, body)
	return a.status, a.body
}

// request is call, returning the answer's headers too.
func (h *harness) request(method, target, token, body string) answered {
	h.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		h.t.Fatal(err)
	}
	headers := map[string]string{"content-type": "application/json", "origin": testOrigin}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	op, ev, ok := h.event(method, u, headers, body)
	if !ok {
		h.t.Fatalf("openapi.yaml has no operation for %s %s", method, u.Path)
	}
	resp, err := h.http.Handle(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	step := fmt.Sprintf("%s %s -> %d", method, target, resp.StatusCode)
	h.called[op.routeKey()] = true
	h.pushed = h.frames(step, nil)
	return answered{resp.StatusCode, h.checkAnswer(step, op, resp.StatusCode, resp.Headers, resp.Body), resp.Headers}
}

// event is the API Gateway event of an HTTP request, routed by the
// operation of openapi.yaml whose path matches.
func (h *harness) event(method string, u *url.URL, headers map[string]string, body string) (httpOperation, events.APIGatewayV2HTTPRequest, bool) {
	var op httpOperation
	var params map[string]string
	for _, o := range h.ops {
		if p, ok := matchPath(o.path, u.Path); ok && o.method == method {
			op, params = o, p
		}
	}
	if op.op == nil {
		return op, events.APIGatewayV2HTTPRequest{}, false
	}
	query := map[string]string{}
	for k, v := range u.Query() {
		query[k] = v[0]
	}
	return op, events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: op.routeKey(), RawPath: u.Path, RawQueryString: u.RawQuery,
		Headers: headers, QueryStringParameters: query, PathParameters: params, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: op.routeKey(), RequestID: h.requestID(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: u.Path, SourceIP: "192.0.2.10"},
		},
	}, true
}

// commonHeaders go on every answer, or on every answer to a browser; the
// description of openapi.yaml covers them. Any other header an answer
// carries must be documented on its response.
var commonHeaders = []string{"cache-control", "content-type", "x-content-type-options", "access-control-allow-origin", "access-control-expose-headers", "vary"}

// checkAnswer checks an HTTP answer of op against its documented response
// (status, headers, body) and returns the body, decoded (nil when there is
// none).
func (h *harness) checkAnswer(step string, op httpOperation, status int, headers map[string]string, body string) any {
	h.t.Helper()
	doc, documented := op.response(h.t, h.open, status)
	if !documented {
		h.t.Errorf("%s: openapi.yaml does not document status %d for %s (body %s)", step, status, op.routeKey(), body)
		return nil
	}
	got := map[string]string{}
	for k, v := range headers {
		got[strings.ToLower(k)] = v
	}
	for _, name := range sortedKeys(got) {
		schema, ok := doc.headers[name]
		switch {
		case ok:
			for _, e := range h.open.validate(schema, got[name], step+" header "+name) {
				h.t.Error(e)
			}
		case !slices.Contains(commonHeaders, name):
			h.t.Errorf("%s: header %s: %q is not documented for status %d of %s", step, name, got[name], status, op.routeKey())
		}
	}
	for _, name := range doc.required {
		if _, ok := got[name]; !ok {
			h.t.Errorf("%s: the answer has no %s header, which openapi.yaml requires", step, name)
		}
	}
	if doc.body == "" {
		if body != "" {
			h.t.Errorf("%s: a body where openapi.yaml documents none: %s", step, body)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		h.t.Fatalf("%s: body is not JSON: %q", step, body)
	}
	for _, e := range h.open.validate(doc.body, v, step) {
		h.t.Error(e)
	}
	return v
}

// answer is an HTTP exchange served by serveAPI.
type answer struct {
	op           httpOperation
	method, path string
	status       int
	headers      map[string]string
	body         string
}

// apiServer serves the HTTP API on a loopback port for clients such as
// curl. Its handler only records: a handler goroutine may not stop the
// test, so the answers are checked afterwards.
type apiServer struct {
	URL     string
	mu      sync.Mutex
	answers []answer
}

func (h *harness) serveAPI() *apiServer {
	h.t.Helper()
	a := &apiServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		headers := map[string]string{}
		for k := range r.Header {
			headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		op, ev, ok := h.event(r.Method, r.URL, headers, string(body))
		if !ok {
			http.Error(w, "openapi.yaml has no such operation", http.StatusNotFound)
			return
		}
		resp, err := h.http.Handle(r.Context(), ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.mu.Lock()
		a.answers = append(a.answers, answer{op: op, method: r.Method, path: r.URL.Path, status: resp.StatusCode, headers: resp.Headers, body: resp.Body})
		a.mu.Unlock()
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		io.WriteString(w, resp.Body)
	}))
	h.t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *apiServer) take() []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.answers
	a.answers = nil
	return out
}

// matchPath matches a path against an OpenAPI path template.
func matchPath(template, path string) (map[string]string, bool) {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i, seg := range ts {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			params[strings.TrimSuffix(name, "}")] = ps[i]
		} else if seg != ps[i] {
			return nil, false
		}
	}
	return params, true
}

// wantStatus fails unless status is want, and returns body as an object.
func (h *harness) wantStatus(step string, status int, body any, want int) map[string]any {
	h.t.Helper()
	if status != want {
		h.t.Fatalf("%s: status %d, want %d (body %v)", step, status, want, body)
	}
	m, _ := body.(map[string]any)
	return m
}

type user struct{ id, name, token string }

func (h *harness) register(name string) user {
	h.t.Helper()
	st, body := h.call("POST", "/api/auth/register", "", `{"username":"`+name+`","password":"correct-horse-9"}`)
	s := h.wantStatus("register "+name, st, body, 201)
	return user{id: fmt.Sprint(s["userId"]), name: name, token: fmt.Sprint(s["token"])}
}

// online registers a user and connects conn for them with the token in
// the URL.
func (h *harness) online(name, conn string) user {
	h.t.Helper()
	u := h.register(name)
	if st, _ := h.connect(conn, map[string]string{"token": u.token}, nil); st != 200 {
		h.t.Fatalf("connect %s: %d", conn, st)
	}
	return u
}

// wantCode fails unless frame is an error with code.
func (h *harness) wantCode(step string, frame map[string]any, code string) {
	h.t.Helper()
	if frame["type"] != "error" || frame["code"] != code {
		h.t.Errorf("%s: got %v, want an error %q", step, frame, code)
	}
}

func frame(format string, args ...any) string { return fmt.Sprintf(format, args...) }
