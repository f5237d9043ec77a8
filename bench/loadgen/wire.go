package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// The two wire protocols the generator speaks over raw WebSocket clients:
// minichat's JSON frames (protocol v1) and Socket.IO v5 over Engine.IO v4.
// A client costs one goroutine (its reader) and, on the hot path (group and
// private messages), no JSON decoding: the few fields it needs are sliced
// out of the frame in place.

type proto int

const (
	protoMinichat proto = iota
	protoSocketIO
)

func (p proto) String() string {
	if p == protoSocketIO {
		return "socketio"
	}
	return "minichat"
}

// user is one account of the bench: for minichat a registered user and its
// token, for Socket.IO the same id given to `login`.
type user struct {
	ID    string `json:"userId"`
	Name  string `json:"username"`
	Token string `json:"token"`
}

type evKind uint8

const (
	evOther evKind = iota
	evGroup
	evPrivate
	evAck
	evError
	evUpdate
	evFull
	evNotice
	evDeleted
)

// event is one frame the server sent, as the generator needs it. The byte
// slices alias the connection's read buffer: valid only during the callback.
type event struct {
	kind      evKind
	at        time.Time // when the frame was read
	text      []byte    // group msg or private content
	messageID []byte
	from      []byte
	id        string // request id of an ack, error or reply (minichat)
	code      string // error code
	retryMs   int    // error retryAfterMs
	deleted   bool
	epoch     string // a group ack's room epoch (minichat)
}

// conn is one client connection. Its reader goroutine calls on for every
// frame; writes may come from any goroutine.
type conn struct {
	proto proto
	ws    *websocket.Conn
	user  user
	on    func(*event)
	done  chan struct{} // closed when the reader has returned
	err   error         // why the reader returned; read after done
}

var dialOpts = &websocket.DialOptions{
	CompressionMode: websocket.CompressionDisabled,
	HTTPClient:      &http.Client{Timeout: 30 * time.Second},
}

// dial opens an authenticated connection for u to the server at addr
// (host:port) and starts its reader. For minichat the token goes in the
// URL; for Socket.IO it connects to the main namespace and emits login.
func dial(ctx context.Context, p proto, addr string, u user, on func(*event)) (*conn, error) {
	c := &conn{proto: p, user: u, on: on, done: make(chan struct{})}
	var u0 string
	if p == protoMinichat {
		u0 = "ws://" + addr + "/ws?token=" + url.QueryEscape(u.Token)
	} else {
		u0 = "ws://" + addr + "/socket.io/?EIO=4&transport=websocket"
	}
	ws, resp, err := websocket.Dial(ctx, u0, dialOpts)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: HTTP %d: %w", p, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial %s: %w", p, err)
	}
	ws.SetReadLimit(1 << 20)
	c.ws = ws
	if p == protoSocketIO {
		if err := c.socketIOHandshake(ctx); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	go c.readLoop()
	return c, nil
}

// socketIOHandshake reads Engine.IO's open packet, connects to the main
// namespace ("40", answered by "40{sid}") and emits login(userId).
func (c *conn) socketIOHandshake(ctx context.Context) error {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return fmt.Errorf("socket.io open: %w", err)
	}
	if len(b) == 0 || b[0] != '0' {
		return fmt.Errorf("socket.io: first packet %q is not open", b)
	}
	if err := c.write([]byte("40")); err != nil {
		return err
	}
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("socket.io connect: %w", err)
		}
		switch {
		case bytes.HasPrefix(b, []byte("40")):
			return c.emit("login", c.user.ID)
		case bytes.Equal(b, []byte("2")):
			if err := c.write([]byte("3")); err != nil {
				return err
			}
		case bytes.HasPrefix(b, []byte("44")):
			return fmt.Errorf("socket.io connect refused: %s", b)
		}
	}
}

func (c *conn) write(b []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, b)
}

// writeJSON sends v as one minichat frame.
func (c *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(b)
}

// emit sends a Socket.IO event with its arguments.
func (c *conn) emit(name string, args ...any) error {
	b, err := json.Marshal(append([]any{name}, args...))
	if err != nil {
		return err
	}
	return c.write(append([]byte("42"), b...))
}

// close closes the connection at once (no closing handshake) and waits a
// little for its reader to return.
func (c *conn) close() {
	c.ws.CloseNow()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// closeGracefully runs the WebSocket closing handshake (1000), then waits
// for the reader.
func (c *conn) closeGracefully() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	c.close()
}

// alive reports whether the reader still runs.
func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// joinRoom asks for a seat; the reply comes as evUpdate or evFull.
func (c *conn) joinRoom(room, id string) error {
	if c.proto == protoSocketIO {
		return c.emit("joinroom", map[string]string{"room": room, "username": c.user.Name})
	}
	return c.writeJSON(map[string]string{"action": "joinroom", "room": room, "id": id})
}

// leaveRoom (minichat only; the seed had no leave but disconnect).
func (c *conn) leaveRoom(room, id string) error {
	return c.writeJSON(map[string]string{"action": "leaveroom", "room": room, "id": id})
}

// sendGroup sends a group message. text, room and id must be JSON-safe
// ASCII (the generator's own tags), so the frame is built without encoding.
func (c *conn) sendGroup(room string, text []byte, id string) error {
	b := make([]byte, 0, 64+len(text)+len(room)+len(id))
	if c.proto == protoSocketIO {
		b = append(b, `42["group-message","`...)
		b = append(b, text...)
		b = append(b, `","`...)
		b = append(b, c.user.Name...)
		b = append(b, `"]`...)
	} else {
		b = append(b, `{"action":"group-message","room":"`...)
		b = append(b, room...)
		b = append(b, `","msg":"`...)
		b = append(b, text...)
		b = append(b, `","id":"`...)
		b = append(b, id...)
		b = append(b, `"}`...)
	}
	return c.write(b)
}

// sendPrivate sends a private message to the user with id to.
func (c *conn) sendPrivate(to string, text string, id string) error {
	if c.proto == protoSocketIO {
		return c.emit("private-message", map[string]string{"to": to, "content": text})
	}
	return c.writeJSON(map[string]string{"action": "private-message", "to": to, "content": text, "id": id})
}

// deleteMessage (minichat) deletes one of the user's private messages.
func (c *conn) deleteMessage(messageID, id string) error {
	return c.writeJSON(map[string]string{"action": "message-deleted", "messageId": messageID, "id": id})
}

func (c *conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, 0, 4096)
	ev := new(event)
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			c.err = err
			return
		}
		buf, err = readInto(buf[:0], r)
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		*ev = event{at: time.Now()}
		if c.proto == protoSocketIO {
			switch {
			case len(buf) == 1 && buf[0] == '2': // Engine.IO ping
				if err := c.write([]byte("3")); err != nil {
					c.err = err
					return
				}
				continue
			case len(buf) == 1 && buf[0] == '1': // Engine.IO close
				c.err = errors.New("socket.io: server closed the session")
				c.ws.CloseNow()
				return
			case !bytes.HasPrefix(buf, []byte("42[")):
				continue
			}
			parseSocketIO(buf[2:], ev)
		} else {
			parseMinichat(buf, ev)
		}
		if c.on != nil {
			c.on(ev)
		}
	}
}

func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// strField returns the value of the string field whose key pattern is
// `"name":"` in the JSON object b, without decoding: ok is false when the
// field is absent or its value holds an escape (then decode b instead). A
// raw `"name":"` can only be a key, since quotes inside JSON strings are
// escaped.
func strField(b []byte, key string) (v []byte, ok bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	v = b[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 || bytes.IndexByte(v[:j], '\\') >= 0 {
		return nil, false
	}
	return v[:j], true
}

// frame is a minichat server frame (or a Socket.IO event argument), decoded
// off the hot path.
type frame struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	MessageID    string `json:"messageId"`
	Code         string `json:"code"`
	From         string `json:"from"`
	Msg          string `json:"msg"`
	Content      string `json:"content"`
	RetryAfterMs int    `json:"retryAfterMs"`
	Deleted      bool   `json:"deleted"`
	Epoch        string `json:"epoch"`
}

func parseMinichat(b []byte, ev *event) {
	typ, ok := strField(b, `"type":"`)
	if ok {
		switch string(typ) {
		case "group-message":
			if ev.text, ok = strField(b, `"msg":"`); ok {
				ev.kind = evGroup
				ev.messageID, _ = strField(b, `"messageId":"`)
				ev.from, _ = strField(b, `"userId":"`)
				return
			}
		case "private-message":
			if ev.text, ok = strField(b, `"content":"`); ok {
				ev.kind = evPrivate
				ev.messageID, _ = strField(b, `"messageId":"`)
				ev.from, _ = strField(b, `"from":"`)
				return
			}
		}
	}
	var f frame
	if json.Unmarshal(b, &f) != nil {
		return
	}
	ev.id, ev.code, ev.retryMs, ev.deleted, ev.epoch = f.ID, f.Code, f.RetryAfterMs, f.Deleted, f.Epoch
	ev.messageID, ev.from = []byte(f.MessageID), []byte(f.From)
	switch f.Type {
	case "group-message":
		ev.kind, ev.text = evGroup, []byte(f.Msg)
	case "private-message":
		ev.kind, ev.text = evPrivate, []byte(f.Content)
	case "ack":
		ev.kind = evAck
	case "error":
		ev.kind = evError
	case "update":
		ev.kind = evUpdate
	case "full":
		ev.kind = evFull
	case "notice":
		ev.kind = evNotice
	case "message-deleted":
		ev.kind = evDeleted
	}
}

// parseSocketIO reads an event packet's JSON array ["name", arg...].
func parseSocketIO(b []byte, ev *event) {
	if !bytes.HasPrefix(b, []byte(`["`)) {
		return
	}
	end := bytes.IndexByte(b[2:], '"')
	if end < 0 {
		return
	}
	name, rest := string(b[2:2+end]), b[2+end+1:]
	var ok bool
	switch name {
	case "group-message":
		if ev.text, ok = strField(rest, `"msg":"`); ok {
			ev.kind = evGroup
			return
		}
	case "private-message":
		if ev.text, ok = strField(rest, `"content":"`); ok {
			ev.kind = evPrivate
			ev.from, _ = strField(rest, `"from":"`)
			return
		}
	case "update":
		ev.kind = evUpdate
		return
	case "notice":
		ev.kind = evNotice
		return
	case "Full":
		ev.kind = evFull
		return
	default:
		return
	}
	// An argument with escapes: decode it.
	var args []json.RawMessage
	if json.Unmarshal(b, &args) != nil || len(args) < 2 {
		return
	}
	var f frame
	if json.Unmarshal(args[1], &f) != nil {
		return
	}
	if name == "group-message" {
		ev.kind, ev.text = evGroup, []byte(f.Msg)
	} else {
		ev.kind, ev.text, ev.from = evPrivate, []byte(f.Content), []byte(f.From)
	}
}

// appendTag writes the text of one bench message: sender, counter and send
// time (µs since the run's start), padded with '.' to size bytes.
func appendTag(b []byte, sender, counter int, sentUs int64, size int) []byte {
	start := len(b)
	b = append(b, "b|"...)
	b = strconv.AppendInt(b, int64(sender), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(counter), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, sentUs, 10)
	b = append(b, '|')
	for len(b)-start < size {
		b = append(b, '.')
	}
	return b
}

// parseTag reads what appendTag wrote.
func parseTag(b []byte) (sender, counter int, sentUs int64, ok bool) {
	if !bytes.HasPrefix(b, []byte("b|")) {
		return 0, 0, 0, false
	}
	b = b[2:]
	var v [3]int64
	for i := range v {
		j := bytes.IndexByte(b, '|')
		if j <= 0 {
			return 0, 0, 0, false
		}
		if j > 18 {
			return 0, 0, 0, false
		}
		var n int64
		for _, d := range b[:j] {
			if d < '0' || d > '9' {
				return 0, 0, 0, false
			}
			n = n*10 + int64(d-'0')
		}
		v[i], b = n, b[j+1:]
	}
	return int(v[0]), int(v[1]), v[2], true
}
