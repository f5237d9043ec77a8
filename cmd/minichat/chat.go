package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/server"
)

// chatHelp lists the line commands of `minichat chat`.
const chatHelp = `commands:
  /msg <user> <text>   private message
  /join <room>         take a seat in a room (it becomes the current room)
  /leave <room>        give up the seat
  /room <text>         message to the current room
  /history <user>      the latest messages with a user
  /users <prefix>      find users
  /who <user>...       who is online; tells when they come and go
  /help                this list
  /quit                leave`

// chat is `minichat chat`: a line-oriented terminal chat on pkg/client. It
// reads commands from in and prints them and every event as lines on out.
// Private messages it prints are marked read: a terminal shows each one as
// it comes. The password comes from MINICHAT_PASSWORD, or else is the
// first line of in (typed visibly: the standard library cannot turn off
// echo).
func chat(args []string, in io.Reader, out io.Writer) error {
	fl := flag.NewFlagSet("chat", flag.ContinueOnError)
	fl.SetOutput(out)
	serverURL := fl.String("server", "http://"+server.DefaultAddr, "base URL of the HTTP API")
	wsURL := fl.String("ws", "", "WebSocket API URL (default: the server's /ws)")
	username := fl.String("user", "", "username (required)")
	register := fl.Bool("register", false, "create the account first")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *username == "" || fl.NArg() != 0 {
		fl.Usage()
		return errors.New("chat: -user is required and no arguments are taken")
	}
	lines := bufio.NewScanner(in)
	password := os.Getenv("MINICHAT_PASSWORD")
	if password == "" {
		fmt.Fprint(out, "password: ")
		if !lines.Scan() {
			return errors.New("chat: no password (set MINICHAT_PASSWORD or type it)")
		}
		password = strings.TrimRight(lines.Text(), "\r")
	}

	var opts []client.Option
	if *wsURL != "" {
		opts = append(opts, client.WithWebSocketURL(*wsURL))
	}
	c, err := client.New(*serverURL, opts...)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auth := c.Login
	if *register {
		auth = c.Register
	}
	session, err := auth(ctx, *username, password)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	term := &chatTerminal{c: c, ctx: ctx, out: out, me: session.UserID, names: map[string]string{session.UserID: session.Username}, ids: map[string]string{session.Username: session.UserID}}
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range c.Events() {
			term.event(ev)
		}
	}()
	if err := c.Dial(ctx); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	term.printf("connected as %s to %s; /help lists the commands", session.Username, *serverURL)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		quit, err := term.command(ctx, line)
		if err != nil {
			term.printf("error: %v", err)
		}
		if quit {
			break
		}
	}
	c.Close()
	<-printed
	return lines.Err()
}

// chatTerminal prints events and runs commands; both write to out.
type chatTerminal struct {
	c   *client.Client
	ctx context.Context // of the session
	me  string

	mu    sync.Mutex
	out   io.Writer
	names map[string]string // userId -> username
	ids   map[string]string // username -> userId
	room  string            // the current room
}

func (t *chatTerminal) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format+"\n", args...)
}

func (t *chatTerminal) learn(userID, username string) {
	if userID == "" || username == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.names[userID], t.ids[username] = username, userID
}

// name returns how to show a user: "you", the username, or the id.
func (t *chatTerminal) name(userID string) string {
	if userID == t.me {
		return "you"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.names[userID]; ok {
		return n
	}
	return userID
}

func (t *chatTerminal) event(ev client.Event) {
	switch e := ev.(type) {
	case client.PrivateMessage:
		t.learn(e.From, e.FromName)
		t.printf("%s -> %s: %s%s", t.name(e.From), t.name(e.To), messageText(e.ChatMessage), missed(e.CatchUp))
		if e.From != t.me {
			// Nobody waits for this: a failed mark is only a stale tick on
			// the other side.
			go t.c.MarkRead(t.ctx, e.From, e.MessageID)
		}
	case client.GroupMessage:
		t.learn(e.UserID, e.Uname)
		who := e.Uname
		if e.UserID == t.me {
			who = "you"
		}
		t.printf("[%s] %s: %s%s", e.Room, who, e.Msg, missed(e.CatchUp))
	case client.Typing:
		t.learn(e.From, e.Username)
		if e.State != client.TypingStart {
			return // the message, or silence, says it
		}
		if e.Room != "" {
			t.printf("[%s] * %s is typing", e.Room, t.name(e.From))
		} else {
			t.printf("* %s is typing", t.name(e.From))
		}
	case client.Read:
		if e.By != t.me {
			t.printf("* %s read your messages", t.name(e.By))
		}
	case client.Presence:
		t.printf("* %s", t.presence(e.PresenceInfo))
	case client.RoomReset:
		t.printf("[%s] * the room was emptied and opened again", e.Room)
	case client.RoomNotice:
		t.learn(e.UserID, e.Username)
		t.printf("[%s] * %s", e.Room, e.Text)
	case client.RoomUpdate:
		var seated []string
		for _, s := range e.Seats {
			if s.UserID != nil && s.Username != nil {
				t.learn(*s.UserID, *s.Username)
				seated = append(seated, *s.Username)
			}
		}
		t.printf("[%s] seats: %s (%d/%d)", e.Room, strings.Join(seated, ", "), len(seated), len(e.Seats))
	case client.RoomLost:
		t.printf("[%s] * lost the seat after reconnecting: %v", e.Room, e.Err)
	case client.MessageDeleted:
		t.printf("* message %s with %s was deleted", e.MessageID, t.name(e.ChatWith))
	case client.AvatarUpdated:
		t.printf("* %s's avatar is now %s", t.name(e.UserID), e.Avatar)
	case client.Connected:
		if e.Reconnect {
			t.printf("* reconnected")
		}
	case client.Disconnected:
		if e.Final {
			t.printf("* disconnected: %v", e.Err)
		} else {
			t.printf("* connection lost, reconnecting (%v)", e.Err)
		}
	case client.CaughtUp:
		if e.Err != nil {
			t.printf("* could not fetch missed messages: %v", e.Err)
		} else if e.Messages > 0 {
			t.printf("* caught up on %d missed messages", e.Messages)
		}
	}
}

func missed(catchUp bool) string {
	if catchUp {
		return " (missed)"
	}
	return ""
}

// presence says whether a user is online, or when they were last.
func (t *chatTerminal) presence(p protocol.PresenceInfo) string {
	switch {
	case p.Online:
		return t.name(p.UserID) + " is online"
	case p.LastSeen == nil:
		return t.name(p.UserID) + " was never online"
	default:
		return t.name(p.UserID) + " is offline, last seen " + *p.LastSeen
	}
}

func messageText(m protocol.ChatMessage) string {
	switch {
	case m.Deleted:
		return "(deleted)"
	case m.Type == protocol.TypePrivateFileMessage:
		return fmt.Sprintf("[%s %s] %s", m.MessageType, m.FileName, m.FileURL)
	default:
		return m.Content
	}
}

// command runs one input line and reports whether to quit.
func (t *chatTerminal) command(ctx context.Context, line string) (bool, error) {
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch cmd {
	case "/quit", "/exit":
		return true, nil
	case "/help":
		t.printf("%s", chatHelp)
	case "/msg":
		to, text, _ := strings.Cut(rest, " ")
		text = strings.TrimSpace(text)
		if to == "" || text == "" {
			return false, errors.New("usage: /msg <user> <text>")
		}
		id, err := t.lookup(ctx, to)
		if err != nil {
			return false, err
		}
		if _, err := t.c.SendPrivate(ctx, id, text); err != nil {
			return false, err
		}
		t.printf("you -> %s: %s", to, text)
	case "/join":
		if rest == "" {
			return false, errors.New("usage: /join <room>")
		}
		if _, err := t.c.JoinRoom(ctx, rest); err != nil {
			if errors.Is(err, client.ErrFull) {
				return false, fmt.Errorf("room %s is full", rest)
			}
			return false, err
		}
		t.mu.Lock()
		t.room = rest
		t.mu.Unlock()
		t.printf("* joined %s; /room <text> talks there", rest)
	case "/leave":
		if rest == "" {
			return false, errors.New("usage: /leave <room>")
		}
		if err := t.c.LeaveRoom(ctx, rest); err != nil {
			return false, err
		}
		t.mu.Lock()
		if t.room == rest {
			t.room = ""
		}
		t.mu.Unlock()
		t.printf("* left %s", rest)
	case "/room":
		t.mu.Lock()
		room := t.room
		t.mu.Unlock()
		if room == "" {
			return false, errors.New("no current room: /join <room> first")
		}
		if rest == "" {
			return false, errors.New("usage: /room <text>")
		}
		// The room echoes the message to every seat, this one included.
		if _, err := t.c.SendGroup(ctx, room, rest); err != nil {
			return false, err
		}
	case "/history":
		if rest == "" {
			return false, errors.New("usage: /history <user>")
		}
		return false, t.history(ctx, rest)
	case "/who":
		if rest == "" {
			return false, errors.New("usage: /who <user>...")
		}
		var ids []string
		for _, name := range strings.Fields(rest) {
			id, err := t.lookup(ctx, name)
			if err != nil {
				return false, err
			}
			ids = append(ids, id)
		}
		users, err := t.c.SubscribePresence(ctx, ids...)
		if err != nil {
			return false, err
		}
		for _, u := range users {
			t.printf("%s", t.presence(u))
		}
	case "/users":
		users, err := t.c.SearchUsers(ctx, rest)
		if err != nil {
			return false, err
		}
		names := make([]string, 0, len(users))
		for _, u := range users {
			t.learn(u.UserID, u.Username)
			names = append(names, u.Username)
		}
		t.printf("users: %s", strings.Join(names, ", "))
	default:
		return false, fmt.Errorf("unknown command %q; /help lists them", cmd)
	}
	return false, nil
}

func (t *chatTerminal) history(ctx context.Context, username string) error {
	id, err := t.lookup(ctx, username)
	if err != nil {
		return err
	}
	page, err := t.c.History(ctx, id, client.HistoryQuery{Limit: 20})
	if err != nil {
		return err
	}
	t.printf("history with %s (%d messages):", username, len(page.Messages))
	msgs := slices.Clone(page.Messages)
	slices.Reverse(msgs) // pages are newest first; a terminal reads down
	for _, m := range msgs {
		t.printf("  %s %s: %s", m.At, t.name(m.From), messageText(m))
	}
	return nil
}

// lookup returns the id of the user called username.
func (t *chatTerminal) lookup(ctx context.Context, username string) (string, error) {
	t.mu.Lock()
	id, ok := t.ids[username]
	t.mu.Unlock()
	if ok {
		return id, nil
	}
	users, err := t.c.SearchUsers(ctx, username)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		t.learn(u.UserID, u.Username)
		if u.Username == username {
			return u.UserID, nil
		}
	}
	return "", fmt.Errorf("no user named %s", username)
}
