package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/server"
)

// stack is a running local stack under test.
type stack struct {
	t   *testing.T
	srv *server.Server
}

// boltOptions are the options of `make run`: bolt and the embedded S3 in
// a temp dir.
func boltOptions(t *testing.T) server.Options {
	return server.Options{Settings: app.Settings{Store: app.StoreBolt, DataDir: t.TempDir()}}
}

// startStack runs the whole stack on a free loopback port and stops it
// when the test ends. Address, template and a cheap password hash are
// filled in, and a logger unless opts has one.
func startStack(t *testing.T, opts server.Options) *stack {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	opts.Template = minichat.Template
	opts.Passwords = auth.BcryptPasswords{Cost: 4}
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	if opts.ChatLimits.RegistersPerIP == 0 {
		opts.ChatLimits.RegistersPerIP = 1000 // every test user registers from 127.0.0.1
	}
	srv, err := server.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &stack{t: t, srv: srv}
}

// call makes an HTTP API request and decodes the JSON answer into out.
func (s *stack) call(method, path, token string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(s.t.Context(), method, s.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

type account struct {
	UserID, Username, Token string
}

func (s *stack) register(name string) account {
	s.t.Helper()
	var a account
	if st := s.call("POST", "/api/auth/register", "", map[string]string{"username": name, "password": "password123"}, &a); st != http.StatusCreated {
		s.t.Fatalf("register %s: status %d", name, st)
	}
	return a
}

// client is a WebSocket client that collects every frame it receives.
type client struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan struct{}
	mu     sync.Mutex
	err    error
	// pending are frames read while looking for another, in order.
	pending []map[string]any
	// idle waits until the server runs no handler.
	idle func()
}

// dial connects with token in the query string ("" for none).
func (s *stack) dial(t testing.TB, token string) *client {
	t.Helper()
	c, err := s.tryDial(t, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryDial is dial for goroutines other than the test's, which must not
// call t.Fatal.
func (s *stack) tryDial(t testing.TB, token string) (*client, error) {
	u := s.srv.WSURL
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	conn, resp, err := websocket.Dial(context.Background(), u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, fmt.Errorf("dial: %w (status %d)", err, status)
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: t, conn: conn, frames: make(chan map[string]any, 1024), closed: make(chan struct{}), idle: func() {
		ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
		defer cancel()
		if err := s.srv.WaitIdle(ctx); err != nil {
			t.Fatalf("the server did not become idle: %v", err)
		}
	}}
	go c.readLoop()
	t.Cleanup(func() { c.conn.Close(websocket.StatusNormalClosure, "") })
	return c, nil
}

func (c *client) readLoop() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			m = map[string]any{"type": "<not json>", "raw": string(data)}
		}
		c.frames <- m
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	default:
		data, _ = json.Marshal(v)
	}
	if err := c.conn.Write(context.Background(), websocket.MessageText, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frameTimeout bounds how long a test waits for a frame it expects; it is
// a failure bound, not a speed assertion.
const frameTimeout = 15 * time.Second

// read returns the next frame off the socket.
func (c *client) read() map[string]any {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(frameTimeout):
		c.t.Fatalf("no frame within %v (set aside: %v)", frameTimeout, c.pending)
		return nil
	}
}

// next returns the next frame: one set aside first.
func (c *client) next() map[string]any {
	c.t.Helper()
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f
	}
	return c.read()
}

// expect returns the first frame of type typ, setting aside those before
// it: API Gateway promises no order between the frames of different
// invocations (a sender's ack goes out before the message's delivery, so
// a reply can overtake what another connection's send pushed).
func (c *client) expect(typ string) map[string]any {
	c.t.Helper()
	for i, f := range c.pending {
		if f["type"] == typ {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return f
		}
	}
	for {
		f := c.read()
		if f["type"] == typ {
			return f
		}
		c.pending = append(c.pending, f)
	}
}

var requestIDs atomic.Int64

// request sends a frame and returns its answer: the frame that echoes its
// id (one is added to a frame without), setting aside the frames that
// arrive before it. A raw frame, or one whose id the server cannot echo,
// gets the next frame.
func (c *client) request(v any) map[string]any {
	c.t.Helper()
	id := ""
	switch m := v.(type) {
	case map[string]string:
		if _, ok := m["id"]; !ok {
			m = maps.Clone(m)
			m["id"] = fmt.Sprintf("rq-%d", requestIDs.Add(1))
			v = m
		}
		id = m["id"]
	case map[string]any:
		if _, ok := m["id"]; !ok {
			m = maps.Clone(m)
			m["id"] = fmt.Sprintf("rq-%d", requestIDs.Add(1))
			v = m
		}
		id, _ = m["id"].(string)
	}
	c.send(v)
	if chat.ValidClientID(id) != nil || id == "" {
		return c.next()
	}
	for {
		f := c.read()
		if f["id"] == id {
			return f
		}
		c.pending = append(c.pending, f)
	}
}

// sync proves every earlier frame for this client has arrived: once the
// server is idle, a ping is answered after everything pushed before it.
func (c *client) sync() {
	c.t.Helper()
	c.idle()
	id := fmt.Sprintf("sync-%d", time.Now().UnixNano())
	c.send(map[string]string{"action": "ping", "id": id})
	for {
		f := c.next()
		if f["type"] == "pong" && f["id"] == id {
			return
		}
		c.t.Fatalf("unexpected frame before pong: %v", f)
	}
}

// takePending returns and forgets the frames set aside.
func (c *client) takePending() []map[string]any {
	p := c.pending
	c.pending = nil
	return p
}

func testLogger() *slog.Logger {
	if os.Getenv("E2E_DEBUG") != "" {
		return logging.New(os.Stderr, slog.LevelDebug)
	}
	return logging.New(io.Discard, nil)
}
