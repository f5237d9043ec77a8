package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
)

type storeTest struct {
	name string
	fn   func(t *testing.T, s chat.Store)
}

// Run runs the conformance suite: one subtest per documented behaviour of
// chat.Store, each on a fresh store from newStore. newStore registers the
// store's cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) chat.Store) {
	groups := []struct {
		name  string
		tests []storeTest
	}{
		{"Users", userTests},
		{"Connections", connectionTests},
		{"Conversations", conversationTests},
		{"Rooms", roomTests},
		{"Subscriptions", subscriptionTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newStore(t))
				})
			}
		})
	}
}

// now is the current time at the precision the protocol carries
// (milliseconds), so that every store can keep it exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// newUserID returns a fresh user id: a UUIDv7, as the service makes them.
func newUserID() string { return uuid.Must(uuid.NewV7()).String() }

// newUser returns a user (not stored) named name plus a short suffix, so
// that users of one test never collide.
func newUser(name string) chat.User {
	return chat.User{
		UserID: newUserID(), Username: name + "_" + uuid.NewString()[:6],
		PasswordHash: "hash-of-" + name, Avatar: "🙂", CreatedAt: now(),
	}
}

func createUsers(t *testing.T, s chat.Store, us ...chat.User) {
	t.Helper()
	for _, u := range us {
		must(t, s.CreateUser(t.Context(), u), "CreateUser "+u.Username)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}

// public is u as other users see it: no password hash.
func public(u chat.User) chat.User {
	u.PasswordHash = ""
	u.CreatedAt = u.CreatedAt.UTC()
	return u
}

func wantUser(t *testing.T, got, want chat.User, what string) {
	t.Helper()
	got.CreatedAt = got.CreatedAt.UTC()
	want.CreatedAt = want.CreatedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// ids returns the connection ids of targets, sorted.
func connIDs(ts []chat.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ConnID)
	}
	slices.Sort(out)
	return out
}

func wantConnIDs(t *testing.T, got []chat.Target, what string, want ...string) {
	t.Helper()
	w := slices.Clone(want)
	slices.Sort(w)
	if g := connIDs(got); !slices.Equal(g, w) {
		t.Fatalf("%s: connections %q, want %q", what, g, w)
	}
}

func fmtMessage(m chat.Message) string {
	f := "<nil>"
	if m.File != nil {
		f = fmt.Sprintf("%+v", *m.File)
	}
	return fmt.Sprintf("{ID:%s Seq:%d Kind:%s From:%s FromName:%s To:%s Room:%s Epoch:%s Content:%q File:%s At:%s Deleted:%t CID:%q}",
		m.MessageID, m.Seq, m.Kind, m.From, m.FromName, m.To, m.Room, m.Epoch, m.Content, f, m.At.Format(time.RFC3339Nano), m.Deleted, m.ClientID)
}

func wantMessage(t *testing.T, got, want chat.Message, what string) {
	t.Helper()
	got.At, want.At = got.At.UTC(), want.At.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %s\n want %s", what, fmtMessage(got), fmtMessage(want))
	}
}

// wantMessages compares in order: histories are newest first.
func wantMessages(t *testing.T, got, want []chat.Message, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d messages %v, want %d %v", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		wantMessage(t, got[i], want[i], fmt.Sprintf("%s: message %d", what, i))
	}
}

func seqs(ms []chat.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

// newest reverses ms, oldest first, into history's order.
func newest(ms ...chat.Message) []chat.Message {
	out := slices.Clone(ms)
	slices.Reverse(out)
	return out
}

// allow and refuse are admit functions: the send rate limit saying yes,
// or no with err.
func allow(context.Context) error { return nil }

func refuseWith(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// counted counts its calls.
type counted struct {
	mu sync.Mutex
	n  int
	fn func(context.Context) error
}

func (c *counted) admit(ctx context.Context) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.fn(ctx)
}

func (c *counted) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
