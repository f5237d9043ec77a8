package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/localgw"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/server"
)

// waitTimeout bounds every wait for something the test expects; it is a
// failure bound, not a speed assertion.
const waitTimeout = 20 * time.Second

// stack is the whole local stack, in process, on loopback, with its bolt
// store and JWT secret in a temp dir, so that it can be restarted.
type stack struct {
	t      *testing.T
	dir    string
	addr   string
	limits chat.Limits
	srv    *server.Server
}

func newStack(t *testing.T, limits chat.Limits) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", limits: limits}
	s.start()
	t.Cleanup(func() {
		if s.srv != nil {
			s.shutdown()
		}
	})
	return s
}

// start serves on s.addr (the same port after a restart).
func (s *stack) start() {
	s.t.Helper()
	srv, err := server.Start(context.Background(), server.Options{
		Addr:       s.addr,
		Settings:   app.Settings{Store: app.StoreBolt, DataDir: s.dir},
		Template:   minichat.Template,
		Passwords:  auth.BcryptPasswords{Cost: 4},
		ChatLimits: s.limits,
		Logger:     testLogger(),
		// The gateway runs up to 8 frames of a connection at once, as API
		// Gateway may: the client must not rely on their order.
		Gateway: localgw.Limits{FrameConcurrency: 8},
	})
	if err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	s.srv = srv
	s.addr = strings.TrimPrefix(srv.URL, "http://")
}

func (s *stack) shutdown() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// net/http's Shutdown waits 5 s for a connection that never sent a
	// request, which the clients' transport may have dialed in reserve.
	http.DefaultClient.CloseIdleConnections()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	s.srv = nil
}

func testLogger() *slog.Logger {
	if os.Getenv("E2E_DEBUG") != "" {
		return logging.New(os.Stderr, slog.LevelDebug)
	}
	return logging.New(io.Discard, nil)
}

// testOptions make reconnects quick: tests restart servers and cut
// connections on purpose.
func testOptions(extra ...client.Option) []client.Option {
	opts := []client.Option{
		client.WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		client.WithRequestTimeout(5 * time.Second),
		client.WithLogger(testLogger()),
	}
	return append(opts, extra...)
}

// user registers name on baseURL, dials, and records its events.
func user(t *testing.T, baseURL, name string, opts ...client.Option) (*client.Client, *recorder) {
	t.Helper()
	c, err := client.New(baseURL, testOptions(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(bounded(t), name, "password123"); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	rec := record(c)
	if err := c.Dial(context.Background()); err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	rec.waitCaughtUp(t)
	return c, rec
}

// waitCaughtUp waits for the end of the first connection's catch-up, after
// which everything stored before Dial returned has been delivered.
func (r *recorder) waitCaughtUp(t *testing.T) {
	t.Helper()
	r.wait(t, "the first catch-up", func(evs []client.Event) bool {
		return count(evs, func(ev client.Event) bool { _, ok := ev.(client.CaughtUp); return ok }) >= 1
	})
}

// reconnectCatchUp returns the CaughtUp that followed the first reconnect,
// if it came.
func reconnectCatchUp(evs []client.Event) (client.CaughtUp, bool) {
	reconnected := false
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.Connected:
			reconnected = reconnected || e.Reconnect
		case client.CaughtUp:
			if reconnected {
				return e, true
			}
		}
	}
	return client.CaughtUp{}, false
}

// recorder keeps every event of a client.
type recorder struct {
	mu     sync.Mutex
	events []client.Event
	closed bool
}

func record(c *client.Client) *recorder {
	r := &recorder{}
	go func() {
		for ev := range c.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
	}()
	return r
}

func (r *recorder) snapshot() []client.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Event(nil), r.events...)
}

// wait polls until cond holds for the events so far, failing the test after
// waitTimeout.
func (r *recorder) wait(t *testing.T, what string, cond func([]client.Event) bool) []client.Event {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		evs := r.snapshot()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; events: %s", what, describe(evs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// private returns the private messages received, in order.
func private(evs []client.Event) []client.PrivateMessage {
	var out []client.PrivateMessage
	for _, ev := range evs {
		if m, ok := ev.(client.PrivateMessage); ok {
			out = append(out, m)
		}
	}
	return out
}

// waitPrivate waits for the private message with id.
func (r *recorder) waitPrivate(t *testing.T, id string) client.PrivateMessage {
	t.Helper()
	var got client.PrivateMessage
	r.wait(t, "private message "+id, func(evs []client.Event) bool {
		for _, m := range private(evs) {
			if m.MessageID == id {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// count returns how many events satisfy match.
func count(evs []client.Event, match func(client.Event) bool) int {
	n := 0
	for _, ev := range evs {
		if match(ev) {
			n++
		}
	}
	return n
}

func describe(evs []client.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		switch e := ev.(type) {
		case client.PrivateMessage:
			fmt.Fprintf(&b, "\n  private %s %q catchUp=%v", e.MessageID, e.Content, e.CatchUp)
		default:
			fmt.Fprintf(&b, "\n  %T %+v", ev, ev)
		}
	}
	return b.String()
}

// allHistory pages back through a whole conversation and returns its
// message ids, newest first.
func allHistory(t *testing.T, c *client.Client, peer string) []protocol.ChatMessage {
	t.Helper()
	var out []protocol.ChatMessage
	q := client.HistoryQuery{Limit: 100}
	for {
		page, err := c.History(bounded(t), peer, q)
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		out = append(out, page.Messages...)
		if page.Next == "" {
			return out
		}
		q.Before = page.Next
	}
}

// receive returns the next value of ch, failing the test after waitTimeout.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitGroup waits for wg, failing the test after waitTimeout.
func waitGroup(t *testing.T, what string, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	receive(t, what, done)
}

// bounded is the context of a test's calls: a client that never answers
// fails the test instead of hanging it.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// relay stands between a client and the real server at the WebSocket
// frame level: HTTP API requests pass through and are recorded, and
// frames are relayed one by one, so that a test can lose chosen pushes,
// cut connections, or refuse new ones for a while (the client is then
// offline, as the server sees it).
type relay struct {
	t      *testing.T
	srv    *httptest.Server
	target *server.Server
	refuse atomic.Bool
	drop   atomic.Pointer[func([]byte) bool] // server frames to lose
	mu     sync.Mutex
	reqs   []string
	conns  []*websocket.Conn
}

func newRelay(t *testing.T, target *server.Server) *relay {
	t.Helper()
	r := &relay{t: t, target: target}
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	api := httputil.NewSingleHostReverseProxy(u)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/ws" {
			if strings.HasPrefix(req.URL.Path, "/api/") {
				r.mu.Lock()
				r.reqs = append(r.reqs, req.Method+" "+req.URL.RequestURI())
				r.mu.Unlock()
			}
			api.ServeHTTP(w, req)
			return
		}
		if r.refuse.Load() {
			http.Error(w, "relay refuses", http.StatusServiceUnavailable)
			return
		}
		up, _, err := websocket.Dial(req.Context(), target.WSURL+"?"+req.URL.RawQuery, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		down, err := websocket.Accept(w, req, nil)
		if err != nil {
			up.CloseNow()
			return
		}
		up.SetReadLimit(-1)
		r.mu.Lock()
		r.conns = append(r.conns, up, down)
		r.mu.Unlock()
		pump := func(from, to *websocket.Conn, filter bool) {
			defer from.CloseNow()
			defer to.CloseNow()
			for {
				typ, data, err := from.Read(context.Background())
				if err != nil {
					return
				}
				if drop := r.drop.Load(); filter && drop != nil && (*drop)(data) {
					continue
				}
				if err := to.Write(context.Background(), typ, data); err != nil {
					return
				}
			}
		}
		go pump(down, up, false)
		pump(up, down, true)
	}))
	t.Cleanup(func() {
		r.cut()
		r.srv.Close()
	})
	return r
}

func (r *relay) url() string { return r.srv.URL }

// dropFrames makes the relay lose the server's frames that match.
func (r *relay) dropFrames(match func(frame []byte) bool) { r.drop.Store(&match) }

// cut closes every connection relayed so far.
func (r *relay) cut() {
	r.mu.Lock()
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, c := range conns {
		c.CloseNow()
	}
}

// requests returns the HTTP API requests made so far ("GET /api/..."),
// and forgets them.
func (r *relay) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.reqs
	r.reqs = nil
	return reqs
}
