package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/storetest"
)

func openTemp(tb testing.TB) (*BoltStore, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "data", "minichat.db")
	s, err := Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chat.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "minichat.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	u := chat.User{UserID: "u1", Username: "alice", PasswordHash: "h", Avatar: "🐱", CreatedAt: at}
	peer := chat.User{UserID: "u2", Username: "bob", CreatedAt: at}
	m := chat.Message{MessageID: uuid.Must(uuid.NewV7()).String(), Kind: chat.KindPrivate, From: u.UserID, FromName: u.Username, To: peer.UserID, Content: "hi", At: at}
	c := chat.Connection{ConnID: "c1", UserID: u.UserID, Username: u.Username, ConnectedAt: at, ExpiresAt: at.Add(time.Hour)}
	for _, u := range []chat.User{u, peer} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	if _, _, err := s.SaveMessage(ctx, m, "u1#1"); err != nil {
		t.Fatalf("SaveMessage: %v", err)
	}
	if err := s.PutConnection(ctx, c); err != nil {
		t.Fatalf("PutConnection: %v", err)
	}
	room, _, err := s.JoinRoom(ctx, "lobby", chat.Seat{UserID: u.UserID, Username: u.Username})
	if err != nil {
		t.Fatalf("JoinRoom: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got.UserID != u.UserID || !got.CreatedAt.Equal(at) {
		t.Fatalf("UserByName after reopen: %+v, %v", got, err)
	}
	_, created, err := s.SaveMessage(ctx, chat.Message{MessageID: uuid.Must(uuid.NewV7()).String(), From: u.UserID, To: peer.UserID}, "u1#1")
	if err != nil || created {
		t.Fatalf("SaveMessage with a used key after reopen: created %t, %v", created, err)
	}
	convs, err := s.Conversations(ctx, peer.UserID)
	if err != nil || len(convs) != 1 || convs[0].Unread != 1 || convs[0].LastMessage.Content != "hi" {
		t.Fatalf("Conversations after reopen: %+v, %v", convs, err)
	}
	gc, err := s.GetConnection(ctx, "c1")
	if err != nil || gc.UserID != u.UserID {
		t.Fatalf("GetConnection after reopen: %+v, %v", gc, err)
	}
	r, err := s.GetRoom(ctx, "lobby")
	if err != nil || r != room {
		t.Fatalf("GetRoom after reopen: %+v, %v, want %+v", r, err, room)
	}
	rooms, err := s.RoomsOf(ctx, u.UserID)
	if err != nil || len(rooms) != 1 || rooms[0] != "lobby" {
		t.Fatalf("RoomsOf after reopen: %q, %v", rooms, err)
	}
}

// TestOpenLocked: a second opener of a file in use gets an error that says
// so, instead of waiting forever.
func TestOpenLocked(t *testing.T) {
	saved := lockTimeout
	lockTimeout = 50 * time.Millisecond
	t.Cleanup(func() { lockTimeout = saved })
	_, path := openTemp(t)
	s, err := Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second Open: got %v, want a lock timeout", err)
	}
}

// TestLimits: the documented per-call maxima are enforced, so a caller that
// exceeds them fails here as it would on DynamoDB.
func TestLimits(t *testing.T) {
	s, _ := openTemp(t)
	ids := make([]string, maxUsersByID+1)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	if _, err := s.UsersByID(t.Context(), ids); err == nil {
		t.Fatalf("UsersByID of %d ids: no error", len(ids))
	}
	if _, err := s.ConnectionsOf(t.Context(), ids[:maxConnectionsOfUsers+1]...); err == nil {
		t.Fatalf("ConnectionsOf of %d users: no error", maxConnectionsOfUsers+1)
	}
}

func BenchmarkSaveMessage(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	at := time.Now().UTC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := chat.Message{
			MessageID: uuid.Must(uuid.NewV7()).String(), Kind: chat.KindPrivate,
			From: "u1", FromName: "alice", To: "u2", Content: "hello there", At: at,
		}
		if _, _, err := s.SaveMessage(ctx, m, fmt.Sprintf("u1#%d", i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkJoinLeaveRoom(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	seat := chat.Seat{UserID: "u1", Username: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.JoinRoom(ctx, "lobby", seat); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.LeaveRoom(ctx, "lobby", seat.UserID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListMessages(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	at := time.Now().UTC()
	for range 200 {
		m := chat.Message{MessageID: uuid.Must(uuid.NewV7()).String(), Kind: chat.KindPrivate, From: "u1", To: "u2", Content: "hi", At: at}
		if _, _, err := s.SaveMessage(ctx, m, ""); err != nil {
			b.Fatal(err)
		}
	}
	conv := chat.ConversationID("u1", "u2")
	b.ReportAllocs()
	for b.Loop() {
		ms, err := s.ListMessages(ctx, conv, chat.Page{Limit: 50})
		if err != nil || len(ms) != 50 {
			b.Fatalf("ListMessages: %d, %v", len(ms), err)
		}
	}
}
