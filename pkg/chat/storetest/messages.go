package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

var messageTests = []storeTest{
	{"SaveAndGet", testSaveAndGet},
	{"Idempotent", testSaveIdempotent},
	{"NoIdemKey", testSaveWithoutIdemKey},
	{"ConcurrentIdempotent", testSaveConcurrentIdempotent},
	{"GroupMessages", testGroupMessages},
	{"MarkDeleted", testMarkDeleted},
	{"ListMessages", testListMessages},
	{"ListMessagesOneOverAPage", testListOneOverAPage},
}

// clock hands out message times one millisecond apart, so that messages
// sent in order have increasing times as well as increasing ids.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: now()} }

func (c *clock) next() time.Time {
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func privateMessage(c *clock, from, to chat.User, content string) chat.Message {
	return chat.Message{
		MessageID: newMessageID(),
		Kind:      chat.KindPrivate,
		From:      from.UserID,
		FromName:  from.Username,
		To:        to.UserID,
		Content:   content,
		At:        c.next(),
	}
}

func fileMessage(c *clock, from, to chat.User) chat.Message {
	m := privateMessage(c, from, to, "")
	m.Kind = chat.KindPrivateFile
	m.File = &chat.FileRef{
		Key:         "files/" + from.UserID + "/" + m.MessageID,
		Name:        "cat.png",
		Type:        "image/png",
		Size:        12345,
		MessageType: "image",
	}
	return m
}

func groupMessage(c *clock, from chat.User, room, content string) chat.Message {
	return chat.Message{
		MessageID: newMessageID(),
		Kind:      chat.KindGroup,
		From:      from.UserID,
		FromName:  from.Username,
		Room:      room,
		Content:   content,
		At:        c.next(),
	}
}

// save stores a message that must be new.
func save(t *testing.T, s chat.Store, m chat.Message, idemKey string) {
	t.Helper()
	stored, created, err := s.SaveMessage(t.Context(), m, idemKey)
	must(t, err, "SaveMessage "+m.MessageID)
	if !created {
		t.Fatalf("SaveMessage %s with key %q: created false, want true", m.MessageID, idemKey)
	}
	wantMessage(t, stored, m, "SaveMessage returns the stored message")
}

func list(t *testing.T, s chat.Store, a, b chat.User, p chat.Page) []chat.Message {
	t.Helper()
	ms, err := s.ListMessages(t.Context(), chat.ConversationID(a.UserID, b.UserID), p)
	must(t, err, fmt.Sprintf("ListMessages %+v", p))
	return ms
}

func testSaveAndGet(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	text := privateMessage(c, alice, bob, "hello\tthere\r\n🙂 <b>not html</b>")
	file := fileMessage(c, bob, alice)
	save(t, s, text, "alice#1")
	save(t, s, file, "")

	got, err := s.GetMessage(ctx, text.MessageID)
	must(t, err, "GetMessage")
	wantMessage(t, got, text, "GetMessage of a text message")
	got, err = s.GetMessage(ctx, file.MessageID)
	must(t, err, "GetMessage")
	wantMessage(t, got, file, "GetMessage of a file message")
	_, err = s.GetMessage(ctx, newMessageID())
	wantErr(t, err, chat.ErrNotFound, "GetMessage of an unknown id")
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 10}), []chat.Message{file, text}, "ListMessages")
}

func testSaveIdempotent(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	first := privateMessage(c, alice, bob, "first")
	save(t, s, first, "alice#m1")

	// A resend under the same key, even with another id and content, stores
	// nothing and answers with the first message.
	again := privateMessage(c, alice, bob, "resent")
	stored, created, err := s.SaveMessage(ctx, again, "alice#m1")
	must(t, err, "SaveMessage with a used key")
	if created {
		t.Fatal("SaveMessage with a used key: created true, want false")
	}
	wantMessage(t, stored, first, "SaveMessage with a used key returns the first message")
	byKey, err := s.IdempotentMessage(ctx, "alice#m1")
	must(t, err, "IdempotentMessage of a used key")
	wantMessage(t, byKey, first, "IdempotentMessage of a used key")
	_, err = s.IdempotentMessage(ctx, "alice#never-used")
	wantErr(t, err, chat.ErrNotFound, "IdempotentMessage of an unused key")
	_, err = s.GetMessage(ctx, again.MessageID)
	wantErr(t, err, chat.ErrNotFound, "GetMessage of the refused resend")
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 10}), []chat.Message{first}, "ListMessages after a resend")
	wantConversations(t, s, bob, []chat.Conversation{{PeerID: alice.UserID, LastMessage: &first, Unread: 1, UpdatedAt: first.At}}, "recipient after a resend")
	wantConversations(t, s, alice, []chat.Conversation{{PeerID: bob.UserID, LastMessage: &first, UpdatedAt: first.At}}, "sender after a resend")

	// Another key is another message.
	second := privateMessage(c, alice, bob, "second")
	save(t, s, second, "alice#m2")
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 10}), []chat.Message{second, first}, "ListMessages after a second key")
	wantConversations(t, s, bob, []chat.Conversation{{PeerID: alice.UserID, LastMessage: &second, Unread: 2, UpdatedAt: second.At}}, "recipient after a second key")
}

func testSaveWithoutIdemKey(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	m1 := privateMessage(c, alice, bob, "same")
	m2 := privateMessage(c, alice, bob, "same")
	save(t, s, m1, "")
	save(t, s, m2, "")
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 10}), []chat.Message{m2, m1}, "ListMessages")
	wantConversations(t, s, bob, []chat.Conversation{{PeerID: alice.UserID, LastMessage: &m2, Unread: 2, UpdatedAt: m2.At}}, "recipient")
}

func testSaveConcurrentIdempotent(t *testing.T, s chat.Store) {
	const n = 16
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	ms := make([]chat.Message, n)
	for i := range ms {
		ms[i] = privateMessage(c, alice, bob, fmt.Sprintf("try %d", i))
	}
	type result struct {
		stored  chat.Message
		created bool
		err     error
	}
	results := make([]result, n)
	race(len(ms), func(i int) {
		stored, created, err := s.SaveMessage(ctx, ms[i], "alice#same")
		results[i] = result{stored, created, err}
	})

	winner := -1
	for i, r := range results {
		must(t, r.err, fmt.Sprintf("SaveMessage %d", i))
		if r.created {
			if winner >= 0 {
				t.Fatalf("SaveMessage: both %d and %d created a message under one key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("SaveMessage: no call created the message")
	}
	w := ms[winner]
	for i, r := range results {
		wantMessage(t, r.stored, w, fmt.Sprintf("SaveMessage %d returns the winner", i))
	}
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 100}), []chat.Message{w}, "ListMessages")
	wantConversations(t, s, bob, []chat.Conversation{{PeerID: alice.UserID, LastMessage: &w, Unread: 1, UpdatedAt: w.At}}, "recipient")
}

func testGroupMessages(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	g := groupMessage(c, alice, "lobby", "hi all")
	save(t, s, g, "alice#g1")
	got, err := s.GetMessage(ctx, g.MessageID)
	must(t, err, "GetMessage of a group message")
	wantMessage(t, got, g, "GetMessage of a group message")

	// Group messages take part in idempotency too.
	resend := groupMessage(c, alice, "lobby", "hi all again")
	stored, created, err := s.SaveMessage(ctx, resend, "alice#g1")
	must(t, err, "SaveMessage of a group resend")
	if created {
		t.Fatal("SaveMessage of a group resend: created true, want false")
	}
	wantMessage(t, stored, g, "SaveMessage of a group resend")
	_, err = s.GetMessage(ctx, resend.MessageID)
	wantErr(t, err, chat.ErrNotFound, "GetMessage of the refused group resend")

	// They make no conversation.
	wantConversations(t, s, alice, nil, "sender of a group message")
	wantConversations(t, s, bob, nil, "someone else")
	wantMessages(t, list(t, s, alice, bob, chat.Page{Limit: 10}), nil, "ListMessages")

	// A group message can be deleted like any other.
	d, err := s.MarkDeleted(ctx, g.MessageID)
	must(t, err, "MarkDeleted of a group message")
	wantMessage(t, d, deleted(g), "MarkDeleted of a group message")
	got, err = s.GetMessage(ctx, g.MessageID)
	must(t, err, "GetMessage")
	wantMessage(t, got, deleted(g), "GetMessage of a deleted group message")
}

func testMarkDeleted(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	m1 := privateMessage(c, alice, bob, "oops")
	m2 := fileMessage(c, alice, bob)
	save(t, s, m1, "")
	save(t, s, m2, "")

	// Deleting a message that is not the last leaves the summaries alone.
	d1, err := s.MarkDeleted(ctx, m1.MessageID)
	must(t, err, "MarkDeleted")
	wantMessage(t, d1, deleted(m1), "MarkDeleted returns the deleted message")
	got, err := s.GetMessage(ctx, m1.MessageID)
	must(t, err, "GetMessage")
	wantMessage(t, got, deleted(m1), "GetMessage of a deleted message")
	wantConversations(t, s, alice, []chat.Conversation{{PeerID: bob.UserID, LastMessage: &m2, UpdatedAt: m2.At}}, "sender after deleting an older message")

	// Deleting the last message shows in both parties' summaries.
	d2, err := s.MarkDeleted(ctx, m2.MessageID)
	must(t, err, "MarkDeleted of a file message")
	wantMessage(t, d2, deleted(m2), "MarkDeleted drops the file")
	for _, u := range []chat.User{alice, bob} {
		cs, err := s.Conversations(ctx, u.UserID)
		must(t, err, "Conversations")
		if len(cs) != 1 || cs[0].LastMessage == nil {
			t.Fatalf("Conversations of %s: got %+v, want one with a last message", u.Username, cs)
		}
		wantMessage(t, *cs[0].LastMessage, deleted(m2), "last message of "+u.Username+" after it was deleted")
	}

	// Deleted messages stay in the history, marked.
	wantMessages(t, list(t, s, bob, alice, chat.Page{Limit: 10}), []chat.Message{deleted(m2), deleted(m1)}, "ListMessages after deletions")

	// Deleting again is harmless.
	d1, err = s.MarkDeleted(ctx, m1.MessageID)
	must(t, err, "MarkDeleted twice")
	wantMessage(t, d1, deleted(m1), "MarkDeleted twice")

	_, err = s.MarkDeleted(ctx, newMessageID())
	wantErr(t, err, chat.ErrNotFound, "MarkDeleted of an unknown message")
}

func testListMessages(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	// bob2's id extends bob's, so a sloppy prefix range would mix the two
	// conversations.
	bob2 := newUser("bob2")
	bob2.UserID = bob.UserID + "0"
	var m []chat.Message
	var other chat.Message
	for i := range 7 {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		m = append(m, privateMessage(c, from, to, fmt.Sprintf("m%d", i)))
		save(t, s, m[i], "")
		if i == 2 {
			other = privateMessage(c, alice, bob2, "elsewhere")
			save(t, s, other, "")
			save(t, s, groupMessage(c, alice, "lobby", "group"), "")
		}
	}
	rev := func(ix ...int) []chat.Message {
		out := make([]chat.Message, len(ix))
		for i, x := range ix {
			out[i] = m[x]
		}
		return out
	}
	cases := []struct {
		name string
		p    chat.Page
		want []chat.Message
	}{
		{"all", chat.Page{Limit: 100}, rev(6, 5, 4, 3, 2, 1, 0)},
		{"newest page", chat.Page{Limit: 3}, rev(6, 5, 4)},
		{"before", chat.Page{Before: m[4].MessageID, Limit: 3}, rev(3, 2, 1)},
		{"before, short page", chat.Page{Before: m[1].MessageID, Limit: 3}, rev(0)},
		{"before the oldest", chat.Page{Before: m[0].MessageID, Limit: 3}, nil},
		{"after", chat.Page{After: m[2].MessageID, Limit: 2}, rev(4, 3)},
		{"after, short page", chat.Page{After: m[5].MessageID, Limit: 3}, rev(6)},
		{"after the newest", chat.Page{After: m[6].MessageID, Limit: 3}, nil},
		{"after, every message", chat.Page{After: m[0].MessageID, Limit: 100}, rev(6, 5, 4, 3, 2, 1)},
		// Bounds are compared as ids; they need not be in the conversation.
		{"after a foreign id", chat.Page{After: other.MessageID, Limit: 2}, rev(4, 3)},
		{"before a foreign id", chat.Page{Before: other.MessageID, Limit: 10}, rev(2, 1, 0)},
		// With After set, Before is ignored (the port: "otherwise").
		{"after wins over before", chat.Page{After: m[0].MessageID, Before: m[2].MessageID, Limit: 3}, rev(3, 2, 1)},
	}
	for _, tc := range cases {
		wantMessages(t, list(t, s, alice, bob, tc.p), tc.want, "ListMessages "+tc.name)
	}
	// Paging with Before walks the whole history without gaps or repeats.
	var walked []chat.Message
	p := chat.Page{Limit: 2}
	for range 10 {
		page := list(t, s, bob, alice, p)
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		p.Before = page[len(page)-1].MessageID
	}
	wantMessages(t, walked, rev(6, 5, 4, 3, 2, 1, 0), "paging with Before")

	wantMessages(t, list(t, s, alice, bob2, chat.Page{Limit: 10}), []chat.Message{other}, "ListMessages of the other conversation")
	ms, err := s.ListMessages(ctx, chat.ConversationID(bob.UserID, newUserID()), chat.Page{Limit: 10})
	must(t, err, "ListMessages of an unknown conversation")
	wantMessages(t, ms, nil, "ListMessages of an unknown conversation")
}

// The service asks for one message more than the largest page (100) to
// learn whether another page follows: a store must return it, or paging
// and catch-up stop early.
func testListOneOverAPage(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	for i := range chat.MaxPageLimit + 2 {
		save(t, s, privateMessage(c, alice, bob, fmt.Sprint("m", i)), "")
	}
	if got := list(t, s, alice, bob, chat.Page{Limit: chat.MaxPageLimit + 1}); len(got) != chat.MaxPageLimit+1 {
		t.Fatalf("ListMessages(limit %d) = %d messages", chat.MaxPageLimit+1, len(got))
	}
}
