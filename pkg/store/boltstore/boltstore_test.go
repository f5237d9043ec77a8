package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

func allow(context.Context) error { return nil }

func twoUsers(t testing.TB, s *BoltStore) (chat.User, chat.User) {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Millisecond)
	a := chat.User{UserID: "0193a000-0000-7000-8000-00000000000a", Username: "alice", PasswordHash: "h", CreatedAt: at}
	b := chat.User{UserID: "0193a000-0000-7000-8000-00000000000b", Username: "bob", PasswordHash: "h", CreatedAt: at}
	for _, u := range []chat.User{a, b} {
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	return a, b
}

// TestReopen: what was written is there after the file is closed and
// opened again; connections and seats are not, once ForgetConnections ran
// (a restarted server's first act), and rooms come back with a new epoch.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "minichat.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := twoUsers(t, s)
	at := time.Now().UTC()
	c := chat.Connection{ConnID: "c1", UserID: alice.UserID, Username: alice.Username, ConnectedAt: at, ExpiresAt: at.Add(time.Hour)}
	if _, err := s.Connect(ctx, c); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.JoinRoom(ctx, "bar", chat.Identity{UserID: alice.UserID, Username: alice.Username})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "hi", At: at, ClientID: "x"}, chat.Tail{}, allow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := s.ListMessages(ctx, alice.UserID, bob.UserID, chat.Page{Limit: 10})
	if err != nil || len(ms) != 1 || ms[0].MessageID != m.MessageID || ms[0].Seq != 1 {
		t.Fatalf("history after reopening: %+v, %v", ms, err)
	}
	if got, _ := s.GetRoom(ctx, "bar"); got.SeatOf(alice.UserID) != 0 {
		t.Fatal("the seat did not survive a plain reopen")
	}
	if err := s.ForgetConnections(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConnection(ctx, "c1"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("a connection of the process before survives ForgetConnections: %v", err)
	}
	peers, _ := s.Peers(ctx, []string{alice.UserID})
	if p := peers[alice.UserID]; p.Online() || p.LastSeen.IsZero() {
		t.Fatalf("after ForgetConnections: online %t, last seen %v", p.Online(), p.LastSeen)
	}
	if got, _ := s.GetRoom(ctx, "bar"); !got.Empty() || got.Version != 0 {
		t.Fatalf("a seat survives ForgetConnections: %+v", got)
	}
	again, _, err := s.JoinRoom(ctx, "bar", chat.Identity{UserID: bob.UserID, Username: bob.Username})
	if err != nil || again.Epoch == r.Epoch {
		t.Fatalf("the room after a restart: epoch %q (before %q), %v", again.Epoch, r.Epoch, err)
	}
	// The resend of a message sent before the restart is still a resend.
	got, created, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "hi", At: at, ClientID: "x"}, chat.Tail{}, allow)
	if err != nil || created || got.MessageID != m.MessageID {
		t.Fatalf("resend after reopening: created %t, %s, %v", created, got.MessageID, err)
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

// TestOlderLayoutRefused: a file of the layout before seq numbers is not
// misread; the error says what to do.
func TestOlderLayoutRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketUsers); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("a file of the older layout opened")
	}
}

// TestGroupCommit: concurrent writes share transactions (and so fsyncs),
// and each still returns only once committed.
func TestGroupCommit(t *testing.T) {
	s, _ := openTemp(t)
	alice, bob := twoUsers(t, s)
	ctx := t.Context()
	const n = 64
	before := s.commits.Load()
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, _, err := s.SavePrivate(ctx, chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: fmt.Sprint(i), At: time.Now()}, chat.Tail{}, allow)
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	commits := s.commits.Load() - before
	ms, err := s.ListMessages(ctx, alice.UserID, bob.UserID, chat.Page{Limit: 100})
	if err != nil || len(ms) != n {
		t.Fatalf("%d writes: %d messages stored, %v", n, len(ms), err)
	}
	if commits >= n {
		t.Fatalf("%d concurrent writes took %d commits: no batching", n, commits)
	}
	t.Logf("%d concurrent writes in %d commits", n, commits)
}

// TestPerCallBounds: the documented per-call maxima are enforced, so a
// caller that exceeds them fails here as it would on DynamoDB.
func TestPerCallBounds(t *testing.T) {
	s, _ := openTemp(t)
	ids := make([]string, maxPeers+1)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	if _, err := s.Peers(t.Context(), ids); err == nil {
		t.Fatalf("Peers of %d ids: no error", len(ids))
	}
	if _, err := s.Targets(t.Context(), ids[:60], ids[60:]); err == nil {
		t.Fatalf("Targets of %d users and rooms: no error", len(ids))
	}
}

func BenchmarkSavePrivate(b *testing.B) {
	s, _ := openTemp(b)
	alice, bob := twoUsers(b, s)
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := chat.Message{Kind: chat.KindPrivate, From: alice.UserID, To: bob.UserID, Content: "hello there", At: time.Now(), ClientID: fmt.Sprint(i)}
		if _, _, err := s.SavePrivate(ctx, m, chat.Tail{}, allow); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
