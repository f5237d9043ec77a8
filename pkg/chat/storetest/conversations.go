package storetest

import (
	"fmt"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

var conversationTests = []storeTest{
	{"Summaries", testConversationSummaries},
	{"MarkRead", testMarkRead},
}

// wantConversations checks u's conversations in order (most recent first).
// UpdatedAt is the time of the last message.
func wantConversations(t *testing.T, s chat.Store, u chat.User, want []chat.Conversation, what string) {
	t.Helper()
	got, err := s.Conversations(t.Context(), u.UserID)
	must(t, err, "Conversations of "+u.Username)
	peers := func(cs []chat.Conversation) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = fmt.Sprintf("%s(unread %d)", c.PeerID, c.Unread)
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("%s: Conversations of %s: got %v, want %v", what, u.Username, peers(got), peers(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.PeerID != w.PeerID || g.Unread != w.Unread || !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Fatalf("%s: Conversations of %s [%d]: got peer %s unread %d updated %s, want peer %s unread %d updated %s",
				what, u.Username, i, g.PeerID, g.Unread, g.UpdatedAt, w.PeerID, w.Unread, w.UpdatedAt)
		}
		if g.LastMessage == nil {
			t.Fatalf("%s: Conversations of %s [%d]: no last message", what, u.Username, i)
		}
		wantMessage(t, *g.LastMessage, *w.LastMessage, fmt.Sprintf("%s: Conversations of %s [%d] last message", what, u.Username, i))
	}
}

func conv(peer chat.User, last chat.Message, unread int) chat.Conversation {
	return chat.Conversation{PeerID: peer.UserID, LastMessage: &last, Unread: unread, UpdatedAt: last.At}
}

func testConversationSummaries(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	wantConversations(t, s, alice, nil, "before any message")

	m1 := privateMessage(c, alice, bob, "hi bob")
	save(t, s, m1, "")
	wantConversations(t, s, alice, []chat.Conversation{conv(bob, m1, 0)}, "sender: no unread for own message")
	wantConversations(t, s, bob, []chat.Conversation{conv(alice, m1, 1)}, "recipient: one unread")
	wantConversations(t, s, carol, nil, "bystander")

	m2 := fileMessage(c, alice, bob)
	save(t, s, m2, "")
	wantConversations(t, s, alice, []chat.Conversation{conv(bob, m2, 0)}, "sender after a file message")
	wantConversations(t, s, bob, []chat.Conversation{conv(alice, m2, 2)}, "recipient after a file message")

	m3 := privateMessage(c, carol, alice, "hi alice")
	save(t, s, m3, "")
	wantConversations(t, s, alice, []chat.Conversation{conv(carol, m3, 1), conv(bob, m2, 0)}, "most recent first")
	wantConversations(t, s, carol, []chat.Conversation{conv(alice, m3, 0)}, "carol")

	// A reply moves the conversation to the front. Sending does not read:
	// the replier's own unread count stays.
	m4 := privateMessage(c, bob, alice, "hi alice, bob here")
	save(t, s, m4, "")
	wantConversations(t, s, alice, []chat.Conversation{conv(bob, m4, 1), conv(carol, m3, 1)}, "after bob's reply")
	wantConversations(t, s, bob, []chat.Conversation{conv(alice, m4, 2)}, "bob after replying")

	// Group messages do not touch conversations.
	save(t, s, groupMessage(c, carol, "lobby", "hi room"), "")
	wantConversations(t, s, carol, []chat.Conversation{conv(alice, m3, 0)}, "carol after a group message")
	wantConversations(t, s, alice, []chat.Conversation{conv(bob, m4, 1), conv(carol, m3, 1)}, "alice after a group message")
}

func testMarkRead(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	m1 := privateMessage(c, bob, alice, "one")
	m2 := privateMessage(c, bob, alice, "two")
	m3 := privateMessage(c, carol, alice, "three")
	for _, m := range []chat.Message{m1, m2, m3} {
		save(t, s, m, "")
	}
	wantConversations(t, s, alice, []chat.Conversation{conv(carol, m3, 1), conv(bob, m2, 2)}, "before MarkRead")

	// Reading zeroes one conversation and does not reorder the list.
	must(t, s.MarkRead(ctx, alice.UserID, bob.UserID), "MarkRead")
	wantConversations(t, s, alice, []chat.Conversation{conv(carol, m3, 1), conv(bob, m2, 0)}, "after MarkRead of bob")
	wantConversations(t, s, bob, []chat.Conversation{conv(alice, m2, 0)}, "the peer is not affected")
	must(t, s.MarkRead(ctx, alice.UserID, bob.UserID), "MarkRead twice")
	wantConversations(t, s, alice, []chat.Conversation{conv(carol, m3, 1), conv(bob, m2, 0)}, "after MarkRead twice")

	// Counting starts again from zero.
	m4 := privateMessage(c, bob, alice, "four")
	save(t, s, m4, "")
	wantConversations(t, s, alice, []chat.Conversation{conv(bob, m4, 1), conv(carol, m3, 1)}, "after a new message")

	// Reading a conversation that does not exist is no error and creates none.
	must(t, s.MarkRead(ctx, carol.UserID, bob.UserID), "MarkRead of no conversation")
	wantConversations(t, s, carol, []chat.Conversation{conv(alice, m3, 0)}, "MarkRead of no conversation creates none")
	nobody := newUser("nobody")
	must(t, s.MarkRead(ctx, nobody.UserID, bob.UserID), "MarkRead by a user without conversations")
	wantConversations(t, s, nobody, nil, "MarkRead by a user without conversations creates none")
}
