package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/server"
)

// chatWait bounds each wait for output; a failure bound, not a speed
// assertion.
const chatWait = 20 * time.Second

// startChatServer runs the whole stack on a free loopback port.
func startChatServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Options{
		Addr:      "127.0.0.1:0",
		Settings:  app.Settings{Store: app.StoreBolt, DataDir: t.TempDir()},
		Template:  minichat.Template,
		Passwords: auth.BcryptPasswords{Cost: 4},
		Logger:    logging.New(io.Discard, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), chatWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// lockedBuffer is the terminal's output, read while chat writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// session is a running `minichat chat` fed through a pipe.
type session struct {
	t    *testing.T
	in   *io.PipeWriter
	out  *lockedBuffer
	done chan error
}

func startChat(t *testing.T, args ...string) *session {
	t.Helper()
	r, w := io.Pipe()
	s := &session{t: t, in: w, out: &lockedBuffer{}, done: make(chan error, 1)}
	go func() { s.done <- chat(args, r, s.out) }()
	t.Cleanup(func() { w.Close() })
	return s
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		s.t.Fatalf("typing %q: %v", line, err)
	}
}

// expect waits until the output has a line containing each of want, in
// that order, after everything matched so far.
func (s *session) expect(want ...string) {
	s.t.Helper()
	deadline := time.Now().Add(chatWait)
	for {
		out := s.out.String()
		rest, ok := out, true
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("output lacks %q in order; output:\n%s", want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *session) exit() error {
	s.t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(chatWait):
		s.t.Fatal("chat did not end")
		return nil
	}
}

func TestChat(t *testing.T) {
	srv := startChatServer(t)
	bob, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Register(chatCtx(t), "bob", "password123"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Dial(context.Background()); err != nil {
		t.Fatal(err)
	}
	bobGot := make(chan client.Event, 100)
	go func() {
		for ev := range bob.Events() {
			bobGot <- ev
		}
	}()
	waitBob := func(what string, match func(client.Event) bool) client.Event {
		t.Helper()
		for {
			select {
			case ev := <-bobGot:
				if match(ev) {
					return ev
				}
			case <-time.After(chatWait):
				t.Fatalf("bob never got %s", what)
			}
		}
	}

	t.Setenv("MINICHAT_PASSWORD", "password123")
	s := startChat(t, "-server", srv.URL, "-user", "alice", "-register")
	s.expect("connected as alice")

	s.send("/msg bob hello bob")
	ev := waitBob("alice's message", func(ev client.Event) bool { _, ok := ev.(client.PrivateMessage); return ok })
	if m := ev.(client.PrivateMessage); m.Content != "hello bob" || m.FromName != "alice" {
		t.Fatalf("bob got %+v", m)
	}
	s.expect("you -> bob: hello bob")
	hello := ev.(client.PrivateMessage)
	aliceID := hello.From
	if err := bob.Typing(chatCtx(t), client.Target{To: aliceID}, true); err != nil {
		t.Fatal(err)
	}
	s.expect("* bob is typing")
	reply, err := bob.SendPrivate(chatCtx(t), aliceID, "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	s.expect("bob -> you: hi alice")
	// The terminal showed the message: it marks it read.
	waitBob("alice's read mark", func(ev client.Event) bool {
		r, ok := ev.(client.Read)
		return ok && r.By == aliceID && r.MessageID == reply.MessageID
	})
	if err := bob.MarkRead(chatCtx(t), aliceID, hello.MessageID); err != nil {
		t.Fatal(err)
	}
	s.expect("* bob read your messages")

	if _, err := bob.JoinRoom(chatCtx(t), "lobby"); err != nil {
		t.Fatal(err)
	}
	s.send("/room too early")
	s.expect("error: no current room")
	s.send("/join lobby")
	s.expect("joined lobby")
	s.expect("[lobby] seats: bob, alice (2/8)")
	waitBob("alice's join", func(ev client.Event) bool { n, ok := ev.(client.RoomNotice); return ok && n.Username == "alice" })
	s.send("/room hello room")
	waitBob("alice's group message", func(ev client.Event) bool { g, ok := ev.(client.GroupMessage); return ok && g.Msg == "hello room" })
	s.expect("[lobby] you: hello room")
	if err := bob.Typing(chatCtx(t), client.Target{Room: "lobby"}, true); err != nil {
		t.Fatal(err)
	}
	s.expect("[lobby] * bob is typing")
	if _, err := bob.SendGroup(chatCtx(t), "lobby", "hey alice"); err != nil {
		t.Fatal(err)
	}
	s.expect("[lobby] bob: hey alice")

	s.send("/history bob")
	s.expect("history with bob (2 messages):", "you: hello bob", "bob: hi alice")
	s.send("/users b")
	s.expect("users: bob")
	s.send("/msg nobody hi")
	s.expect("error: no user named nobody")
	s.send("/dance")
	s.expect(`error: unknown command "/dance"`)
	s.send("/leave lobby")
	s.expect("left lobby")
	waitBob("alice's leave", func(ev client.Event) bool { n, ok := ev.(client.RoomNotice); return ok && n.Event == "leave" })
	s.send("/who bob")
	s.expect("bob is online")
	bob.Close()
	s.expect("* bob is offline, last seen 20")
	s.send("/quit")
	if err := s.exit(); err != nil {
		t.Fatalf("chat ended with %v", err)
	}
}

func TestChatPasswordPromptAndRefusal(t *testing.T) {
	srv := startChatServer(t)
	t.Setenv("MINICHAT_PASSWORD", "")

	s := startChat(t, "-server", srv.URL, "-user", "carol", "-register")
	s.send("password123")
	s.expect("password: ", "connected as carol")
	s.in.Close() // end of input ends the chat
	if err := s.exit(); err != nil {
		t.Fatalf("chat ended with %v", err)
	}

	s = startChat(t, "-server", srv.URL, "-user", "carol")
	s.send("wrong-password")
	err := s.exit()
	if !client.IsCode(err, "unauthorized") {
		t.Fatalf("login with a wrong password: %v", err)
	}

	if err := chat([]string{"-server", srv.URL}, strings.NewReader(""), io.Discard); err == nil {
		t.Fatal("chat without -user succeeded")
	}
}

// chatCtx bounds the test's own client calls.
func chatCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), chatWait)
	t.Cleanup(cancel)
	return ctx
}
