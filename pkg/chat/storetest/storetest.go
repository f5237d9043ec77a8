package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
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
		{"Messages", messageTests},
		{"Conversations", conversationTests},
		{"Rooms", roomTests},
		{"Allow", allowTests},
		{"Hit", hitTests},
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

// newUserID returns a fresh user id.
func newUserID() string { return "u-" + uuid.NewString() }

// newMessageID returns a fresh message id that sorts after every id this
// process made before.
func newMessageID() string { return uuid.Must(uuid.NewV7()).String() }

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

func normUser(u chat.User) chat.User {
	u.CreatedAt = u.CreatedAt.UTC()
	return u
}

func wantUser(t *testing.T, got, want chat.User, what string) {
	t.Helper()
	if !reflect.DeepEqual(normUser(got), normUser(want)) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func normConn(c chat.Connection) chat.Connection {
	c.ConnectedAt = c.ConnectedAt.UTC()
	c.ExpiresAt = c.ExpiresAt.UTC()
	return c
}

func wantConn(t *testing.T, got, want chat.Connection, what string) {
	t.Helper()
	if !reflect.DeepEqual(normConn(got), normConn(want)) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// wantConns compares connections as sets: the port promises no order.
func wantConns(t *testing.T, got, want []chat.Connection, what string) {
	t.Helper()
	byID := func(a, b chat.Connection) int {
		switch {
		case a.ConnID < b.ConnID:
			return -1
		case a.ConnID > b.ConnID:
			return 1
		}
		return 0
	}
	g := slices.SortedFunc(slices.Values(got), byID)
	w := slices.SortedFunc(slices.Values(want), byID)
	if len(g) != len(w) {
		t.Fatalf("%s: got %d connections %+v, want %d %+v", what, len(g), g, len(w), w)
	}
	for i := range g {
		wantConn(t, g[i], w[i], fmt.Sprintf("%s: connection %d", what, i))
	}
}

func normMessage(m chat.Message) chat.Message {
	m.At = m.At.UTC()
	return m
}

func fmtMessage(m chat.Message) string {
	f := "<nil>"
	if m.File != nil {
		f = fmt.Sprintf("%+v", *m.File)
	}
	return fmt.Sprintf("{ID:%s Kind:%s From:%s FromName:%s To:%s Room:%s Content:%q File:%s At:%s Deleted:%t}",
		m.MessageID, m.Kind, m.From, m.FromName, m.To, m.Room, m.Content, f, m.At.Format(time.RFC3339Nano), m.Deleted)
}

func wantMessage(t *testing.T, got, want chat.Message, what string) {
	t.Helper()
	if !reflect.DeepEqual(normMessage(got), normMessage(want)) {
		t.Fatalf("%s:\n got  %s\n want %s", what, fmtMessage(got), fmtMessage(want))
	}
}

// wantMessages compares in order: ListMessages promises newest first.
func wantMessages(t *testing.T, got, want []chat.Message, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d messages %v, want %d %v", what, len(got), ids(got), len(want), ids(want))
	}
	for i := range got {
		wantMessage(t, got[i], want[i], fmt.Sprintf("%s: message %d", what, i))
	}
}

func ids(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MessageID
	}
	return out
}

// deleted is m as MarkDeleted leaves it.
func deleted(m chat.Message) chat.Message {
	m.Deleted = true
	m.Content = ""
	m.File = nil
	return m
}

func wantRoom(t *testing.T, got, want chat.Room, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// wantEmptyRoom checks the shape of a room that has no records: its name,
// Version 0 and eight zero seats.
func wantEmptyRoom(t *testing.T, got chat.Room, name, what string) {
	t.Helper()
	wantRoom(t, got, chat.Room{Name: name}, what)
}

// wantStrings compares as sets: the port promises no order.
func wantStrings(t *testing.T, got, want []string, what string) {
	t.Helper()
	g := slices.Clone(got)
	w := slices.Clone(want)
	sort.Strings(g)
	sort.Strings(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// race runs do(0..n-1) in n goroutines released together, so that the
// calls overlap as much as they can, and returns when all are done.
func race(n int, do func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			do(i)
		})
	}
	close(start)
	wg.Wait()
}
