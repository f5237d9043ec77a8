package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// readLimit bounds one incoming message; server frames are a few KB at
// most, so this only guards against a broken peer.
const readLimit = 1 << 20

// seenCapacity is how many message ids are remembered for de-duplication;
// it only needs to cover the messages that may come twice: a push and
// its history item fetched around the same time, a resent push.
const seenCapacity = 10000

type state int

const (
	stateIdle state = iota
	stateDialing
	stateRunning
	stateStopped
)

// Client is a connection to a minichat server. Its methods are safe for
// concurrent use.
type Client struct {
	o      options
	base   *url.URL
	wsURL  string
	log    *slog.Logger
	events *eventQueue

	mu        sync.Mutex
	session   protocol.Session
	state     state
	stopErr   error
	ctx       context.Context
	cancel    context.CancelFunc
	stopped   chan struct{}
	conn      *websocket.Conn
	gen       uint64 // counts connections; a request remembers the one it was written on
	seq       uint64
	pending   map[string]*request
	joined    map[string]struct{}   // rooms to re-join after a reconnect
	rooms     map[string]*roomState // by room
	convs     map[string]*stream    // by peer
	presence  map[string]struct{}   // users to re-subscribe to after a reconnect
	typingOut map[Target]stopper    // repeats of this user's typing starts
	typingIn  map[typingKey]*typist // others typing to this user or in its rooms
	seen      *idSet
	deleted   *idSet
	caughtUp  int // catch-up messages delivered, for CaughtUp

	// wmu orders writes, so that what is resent after a reconnect goes
	// before new requests.
	wmu sync.Mutex
}

// New returns a client of the server whose HTTP API is at baseURL (such as
// http://127.0.0.1:8080). It does not connect: call Register, Login or
// SetSession, then Dial.
func New(baseURL string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	base, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	ws := o.wsURL
	if ws == "" {
		u := *base
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[base.Scheme]
		u.Path += "/ws"
		ws = u.String()
	}
	if u, err := url.Parse(ws); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("client: WebSocket URL %q: want ws(s)://...", ws)
	}
	return &Client{
		o: o, base: base, wsURL: ws, log: o.logger, events: newEventQueue(),
		pending: map[string]*request{}, joined: map[string]struct{}{}, rooms: map[string]*roomState{},
		convs: map[string]*stream{}, presence: map[string]struct{}{},
		typingOut: map[Target]stopper{}, typingIn: map[typingKey]*typist{},
		seen: newIDSet(seenCapacity), deleted: newIDSet(seenCapacity),
	}, nil
}

// Events returns the channel of pushed events; see the package
// documentation. It is closed when the client stops.
func (c *Client) Events() <-chan Event { return c.events.out }

// SetSession makes the client use a session obtained earlier (a stored
// token).
func (c *Client) SetSession(s protocol.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = s
}

// Session returns the current session (zero before Register, Login or
// SetSession).
func (c *Client) Session() protocol.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Rooms returns the rooms this client has joined and re-joins after a
// reconnect, sorted.
func (c *Client) Rooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.joined))
}

// Dial reads the seq of every conversation's last message (GET
// /api/conversations: what came before is not missed), opens the
// WebSocket connection with the session's token, and returns once it is
// up (or with the error of either step). From then on the client keeps a
// connection up, reconnecting as needed, until Close is called or ctx
// ends: ctx bounds the whole session, not just this call, so do not pass
// a context that is cancelled when Dial returns (each handshake has its
// own timeout, WithDialTimeout).
func (c *Client) Dial(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.state == stateStopped:
		c.mu.Unlock()
		return ErrClosed
	case c.state != stateIdle:
		c.mu.Unlock()
		return errors.New("client: Dial called twice")
	case c.session.Token == "":
		c.mu.Unlock()
		return ErrNoToken
	}
	c.state = stateDialing
	c.mu.Unlock()

	err := c.baseline(ctx)
	var conn *websocket.Conn
	if err == nil {
		conn, err = c.dialOnce(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateStopped {
		if conn != nil {
			conn.CloseNow()
		}
		return ErrClosed
	}
	if err != nil {
		c.state = stateIdle
		return err
	}
	c.state = stateRunning
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.stopped = make(chan struct{})
	context.AfterFunc(c.ctx, func() {
		c.stop(fmt.Errorf("%w: %w", ErrClosed, context.Cause(ctx)), false)
		c.events.finish()
	})
	go c.run(conn)
	return nil
}

// Close stops the client: the connection is closed, pending calls return
// ErrClosed, and the Events channel is closed (events not yet received are
// dropped).
func (c *Client) Close() error {
	c.stop(ErrClosed, false)
	c.events.close()
	return nil
}

// stop ends the session with err; final tells the application why through
// a last Disconnected event.
func (c *Client) stop(err error, final bool) {
	c.mu.Lock()
	if c.stopErr == nil {
		c.stopErr = err
	}
	prev := c.state
	c.state = stateStopped
	cancel, stopped := c.cancel, c.stopped
	c.mu.Unlock()
	if final {
		c.events.push(Disconnected{Err: err, Final: true})
		c.events.finish()
	}
	if cancel != nil {
		cancel()
	}
	if prev == stateRunning && stopped != nil {
		<-stopped
	}
}

// stopError is the error of calls made or pending after the client stopped.
func (c *Client) stopError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopErr != nil:
		return c.stopErr
	case c.ctx != nil && c.ctx.Err() != nil:
		// The session's context ended; stop has yet to record it.
		return fmt.Errorf("%w: %w", ErrClosed, context.Cause(c.ctx))
	default:
		return ErrClosed
	}
}

// run keeps a connection up until the client stops.
func (c *Client) run(conn *websocket.Conn) {
	defer close(c.stopped)
	reconnect := false
	for {
		err := c.serve(conn, reconnect)
		if c.ctx.Err() != nil {
			return
		}
		c.log.Info("minichat: connection lost, reconnecting", "err", err)
		c.events.push(Disconnected{Err: err})
		reconnect = true
		conn, err = c.redial()
		if conn == nil {
			if err != nil {
				c.log.Error("minichat: reconnect refused, giving up", "err", err)
				go c.stop(err, true)
			}
			return
		}
	}
}

// redial tries to connect until it succeeds, the client stops (nil, nil)
// or the server refuses the token (nil, err).
func (c *Client) redial() (*websocket.Conn, error) {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil, nil
		}
		conn, err := c.dialOnce(c.ctx)
		if err == nil {
			return conn, nil
		}
		if c.ctx.Err() != nil {
			return nil, nil
		}
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
			return nil, err
		}
		c.log.Debug("minichat: reconnect failed", "attempt", attempt+1, "err", err)
	}
}

// backoff is the pause before reconnection attempt n (from 0): exponential,
// bounded, with "equal jitter" (half fixed, half random).
func (c *Client) backoff(n int) time.Duration {
	d := c.o.backoffMin << min(n, 30)
	if d > c.o.backoffMax || d <= 0 {
		d = c.o.backoffMax
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// dialOnce makes one handshake with the token in the query string.
func (c *Client) dialOnce(ctx context.Context) (*websocket.Conn, error) {
	token := c.Session().Token
	u, err := url.Parse(c.wsURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	dctx, cancel := context.WithTimeout(ctx, c.o.dialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPClient: c.o.httpClient})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, &Error{Code: codeOfStatus(resp.StatusCode), Message: "handshake refused", Status: resp.StatusCode}
		}
		return nil, &dialError{err: err, token: token}
	}
	conn.SetReadLimit(readLimit)
	return conn, nil
}

// dialError hides the token, which the URL in a handshake error carries.
type dialError struct {
	err   error
	token string
}

func (e *dialError) Error() string {
	msg := e.err.Error()
	if e.token != "" {
		msg = strings.ReplaceAll(msg, url.QueryEscape(e.token), "REDACTED")
		msg = strings.ReplaceAll(msg, e.token, "REDACTED")
	}
	return "client: dial: " + msg
}

func (e *dialError) Unwrap() error { return e.err }

// serve publishes conn, writes what it owes the server (re-joins,
// re-subscriptions and the requests not yet answered), runs the heartbeat
// and catch-up, and returns when conn ends.
func (c *Client) serve(conn *websocket.Conn, reconnect bool) error {
	c.wmu.Lock()
	c.mu.Lock()
	c.conn = conn
	c.gen++
	gen := c.gen
	now := time.Now()
	var resend []*request
	for _, r := range c.pending {
		switch {
		case r.kind.internal():
			c.finish(r, reply{err: errConnectionLost})
		case r.notBefore.After(now):
			// Refused as rate-limited: its retry timer writes it.
		default:
			resend = append(resend, r)
		}
	}
	slices.SortFunc(resend, func(a, b *request) int { return cmp.Compare(a.seq, b.seq) })
	rejoin := make([]*request, 0, len(c.joined))
	for _, room := range slices.Sorted(maps.Keys(c.joined)) {
		rejoin = append(rejoin, c.newRequestLocked(kindRejoin, protocol.Request{Action: protocol.ActionJoinRoom, Room: room}))
	}
	var resubscribe []*request
	for ids := range slices.Chunk(slices.Sorted(maps.Keys(c.presence)), maxPresenceIDs) {
		resubscribe = append(resubscribe, c.newRequestLocked(kindResubscribe, protocol.Request{Action: protocol.ActionSubscribePresence, UserIDs: ids}))
	}
	c.mu.Unlock()

	readDone := make(chan error, 1)
	go func() { readDone <- c.read(conn) }()
	for _, r := range slices.Concat(rejoin, resubscribe, resend) {
		c.writeLocked(conn, gen, r)
	}
	c.wmu.Unlock()
	c.events.push(Connected{Reconnect: reconnect})

	lost := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.heartbeat(lost) })
	wg.Go(func() { c.catchUp(rejoin, lost) })
	var err error
	select {
	case err = <-readDone:
	case <-c.ctx.Done():
		conn.Close(websocket.StatusNormalClosure, "")
		err = <-readDone
	}
	close(lost)
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
	conn.CloseNow()
	wg.Wait()
	return err
}

// heartbeat pings every ping interval until lost is closed; a ping not
// answered in time takes the connection down (see expire).
func (c *Client) heartbeat(lost <-chan struct{}) {
	t := time.NewTicker(c.o.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-lost:
			return
		case <-t.C:
			c.mu.Lock()
			r := c.newRequestLocked(kindHeartbeat, protocol.Request{Action: protocol.ActionPing})
			c.mu.Unlock()
			c.write(r)
		}
	}
}

// frameHead is what every server frame is first read as.
type frameHead struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs"`
}

func (c *Client) read(conn *websocket.Conn) error {
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			return fmt.Errorf("client: read: %w", err)
		}
		if typ == websocket.MessageText {
			c.handle(data)
		}
	}
}

// handle dispatches one server frame: answers go to their request, pushed
// frames become events.
func (c *Client) handle(data []byte) {
	var h frameHead
	if err := json.Unmarshal(data, &h); err != nil {
		c.log.Warn("minichat: frame is not a JSON object", "err", err)
		return
	}
	switch h.Type {
	case protocol.TypeAck, protocol.TypeError, protocol.TypePong, protocol.TypeLoginOK, protocol.TypePresenceState, protocol.TypeFull:
		c.answer(h, data)
	case protocol.TypeUpdate:
		var u protocol.Update
		if c.decode(data, &u) {
			c.roomUpdate(u)
			if h.ID != "" {
				c.answer(h, data)
			}
		}
	case protocol.TypePrivateMessage, protocol.TypePrivateFileMessage:
		var m protocol.ChatMessage
		if c.decode(data, &m) {
			c.mu.Lock()
			c.offerLocked(c.convLocked(c.peerOf(m)), entry{m: m})
			c.mu.Unlock()
		}
	case protocol.TypeGroupMessage:
		var m protocol.ChatMessage
		if c.decode(data, &m) {
			c.group(m)
		}
	case protocol.TypeMessageDeleted:
		var d protocol.MessageDeleted
		if c.decode(data, &d) {
			c.mu.Lock()
			c.seen.add(d.MessageID)
			if c.deleted.add(d.MessageID) {
				c.events.push(MessageDeleted{d})
			}
			c.mu.Unlock()
		}
	case protocol.TypeAvatarUpdated:
		var a protocol.AvatarUpdated
		if c.decode(data, &a) {
			c.events.push(AvatarUpdated{a})
		}
	case protocol.TypeNotice:
		var n protocol.Notice
		if c.decode(data, &n) {
			c.mu.Lock()
			c.roomLocked(n.Room, n.Epoch)
			c.events.push(RoomNotice{n})
			c.mu.Unlock()
		}
	case protocol.TypePresence:
		var p protocol.Presence
		if c.decode(data, &p) {
			c.events.push(Presence{p.PresenceInfo})
		}
	case protocol.TypeTyping:
		var t protocol.Typing
		if c.decode(data, &t) {
			c.typingFrame(t)
		}
	case protocol.TypeRead:
		var r protocol.Read
		if c.decode(data, &r) {
			c.events.push(Read{r})
		}
	case "":
		// API Gateway's own error frames ({"message": ...}) name no
		// request; the request they were about times out and is resent.
		c.log.Warn("minichat: gateway error", "message", h.Message)
	default:
		c.log.Debug("minichat: ignoring frame of unknown type", "type", h.Type)
	}
}

func (c *Client) decode(data []byte, v any) bool {
	if err := json.Unmarshal(data, v); err != nil {
		c.log.Warn("minichat: malformed frame", "err", err)
		return false
	}
	return true
}

func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return protocol.CodeBadRequest
	case http.StatusUnauthorized:
		return protocol.CodeUnauthorized
	case http.StatusForbidden:
		return protocol.CodeForbidden
	case http.StatusNotFound:
		return protocol.CodeNotFound
	case http.StatusConflict:
		return protocol.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return protocol.CodeTooLarge
	case http.StatusTooManyRequests:
		return protocol.CodeRateLimited
	default:
		return protocol.CodeInternal
	}
}

// idSet remembers the last ids added, up to its capacity.
type idSet struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDSet(capacity int) *idSet {
	return &idSet{ids: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// add records id and reports whether it was new.
func (s *idSet) add(id string) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}

func (s *idSet) has(id string) bool {
	_, ok := s.ids[id]
	return ok
}
