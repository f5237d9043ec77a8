package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/testenv"
)

var conversationTests = []storeTest{
	{"PrivateContext", testPrivateContext},
	{"SaveAndList", testSavePrivateAndList},
	{"Admit", testSaveAdmit},
	{"Tail", testSaveAfterTail},
	{"Resend", testSaveResend},
	{"ConcurrentSaves", testConcurrentSaves},
	{"ConcurrentResends", testConcurrentResends},
	{"Paging", testPaging},
	{"Conversations", testConversations},
	{"MarkRead", testMarkRead},
	{"Delete", testDeleteMessage},
	{"Files", testFileMessage},
}

// clock hands out message times one millisecond apart.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: now()} }

func (c *clock) next() time.Time {
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func draft(c *clock, from, to chat.User, content, clientID string) chat.Message {
	return chat.Message{
		Kind: chat.KindPrivate, From: from.UserID, FromName: from.Username, To: to.UserID,
		Content: content, At: c.next(), ClientID: clientID,
	}
}

// savePrivate stores a message that must be new, with seq wantSeq, and
// returns it as stored.
func savePrivate(t *testing.T, s chat.Store, m chat.Message, wantSeq int64) chat.Message {
	t.Helper()
	return savePrivateAfter(t, s, m, chat.Tail{}, wantSeq, "")
}

// savePrivateAfter is savePrivate after the end tail (from PrivateContext);
// why names the case in a failure.
func savePrivateAfter(t *testing.T, s chat.Store, m chat.Message, tail chat.Tail, wantSeq int64, why string) chat.Message {
	t.Helper()
	stored, created, err := s.SavePrivate(t.Context(), m, tail, allow)
	must(t, err, "SavePrivate "+why)
	if !created {
		t.Fatalf("SavePrivate %s of a new message: created false", why)
	}
	if stored.MessageID == "" || stored.Seq != wantSeq {
		t.Fatalf("SavePrivate %s: id %q, seq %d; want an id and seq %d", why, stored.MessageID, stored.Seq, wantSeq)
	}
	if err := chat.ValidID("messageId", stored.MessageID); err != nil {
		t.Fatalf("SavePrivate made an id the protocol refuses: %v", err)
	}
	want := m
	want.MessageID, want.Seq = stored.MessageID, wantSeq
	wantMessage(t, stored, want, "SavePrivate returns the message as given, with its id and seq")
	return stored
}

func listPrivate(t *testing.T, s chat.Store, a, b chat.User, p chat.Page) []chat.Message {
	t.Helper()
	ms, err := s.ListMessages(t.Context(), a.UserID, b.UserID, p)
	must(t, err, fmt.Sprintf("ListMessages %+v", p))
	return ms
}

func testPrivateContext(t *testing.T, s chat.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	ca, cb := newConn(alice), newConn(bob)
	connect(t, s, ca, true)
	connect(t, s, cb, true)

	sender, p, _, err := s.PrivateContext(ctx, chat.Sender{ConnID: ca.ConnID}, bob.UserID, -1)
	must(t, err, "PrivateContext by connection")
	if sender.Identity() != identity(alice) {
		t.Fatalf("sender %+v, want alice", sender.Identity())
	}
	wantConnIDs(t, sender.Siblings, "the sender's connections", ca.ConnID)
	wantUser(t, p.User, public(bob), "the recipient")
	wantConnIDs(t, p.Conns, "the recipient's connections", cb.ConnID)

	id := identity(alice)
	sender, p, _, err = s.PrivateContext(ctx, chat.Sender{Identity: &id}, bob.UserID, -1)
	must(t, err, "PrivateContext by identity")
	if sender.Identity() != id {
		t.Fatalf("sender %+v, want alice", sender.Identity())
	}
	wantConnIDs(t, sender.Siblings, "the sender's connections by identity", ca.ConnID)
	wantConnIDs(t, p.Conns, "the recipient's connections", cb.ConnID)

	sender, p, _, err = s.PrivateContext(ctx, chat.Sender{ConnID: ca.ConnID, Identity: &id}, bob.UserID, 1)
	must(t, err, "PrivateContext by a connection the authorizer named, with a seq")
	if sender.Identity() != id {
		t.Fatalf("sender %+v, want alice", sender.Identity())
	}
	wantConnIDs(t, sender.Siblings, "the sender's connections", ca.ConnID)
	wantConnIDs(t, p.Conns, "the recipient's connections", cb.ConnID)

	_, _, _, err = s.PrivateContext(ctx, chat.Sender{ConnID: ca.ConnID}, newUserID(), -1)
	wantErr(t, err, chat.ErrNotFound, "PrivateContext to an unknown user")
	anon := newConn(chat.User{})
	connect(t, s, anon, false)
	_, _, _, err = s.PrivateContext(ctx, chat.Sender{ConnID: anon.ConnID}, bob.UserID, -1)
	wantErr(t, err, chat.ErrUnauthorized, "PrivateContext from an anonymous connection")
	_, _, _, err = s.PrivateContext(ctx, chat.Sender{ConnID: "c-nowhere"}, bob.UserID, -1)
	wantErr(t, err, chat.ErrUnauthorized, "PrivateContext from an unknown connection")
}

// testSaveAfterTail stores messages after the end PrivateContext read at
// the seq a client says it holds, right or wrong: seq still grows by
// exactly one, and a resend read there is still a resend.
func testSaveAfterTail(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob, carol, dave := newUser("alice"), newUser("bob"), newUser("carol"), newUser("dave")
	createUsers(t, s, alice, bob, carol, dave)
	ca := newConn(alice)
	connect(t, s, ca, true)
	id := identity(alice)
	from := chat.Sender{ConnID: ca.ConnID, Identity: &id}
	for i := range 3 {
		savePrivate(t, s, draft(c, carol, alice, fmt.Sprint("carol ", i), ""), int64(i+1))
	}
	savePrivate(t, s, draft(c, alice, bob, "one", "t1"), 1)
	savePrivate(t, s, draft(c, bob, alice, "two", ""), 2)
	tailAt := func(to chat.User, seq int64) chat.Tail {
		t.Helper()
		_, _, tail, err := s.PrivateContext(ctx, from, to.UserID, seq)
		must(t, err, fmt.Sprintf("PrivateContext at seq %d", seq))
		return tail
	}
	m3 := savePrivateAfter(t, s, draft(c, alice, bob, "three", "t3"), tailAt(bob, 2), 3, "after the newest message")
	refuse := func(context.Context) error { return chat.ErrThrottled }
	for _, seq := range []int64{2, 3, 1, -1} {
		got, created, err := s.SavePrivate(ctx, draft(c, alice, bob, "three", "t3"), tailAt(bob, seq), refuse)
		must(t, err, fmt.Sprintf("a resend read at seq %d", seq))
		if created || got.MessageID != m3.MessageID {
			t.Fatalf("a resend read at seq %d: %s, created %v; want the first message %s", seq, got.MessageID, created, m3.MessageID)
		}
	}
	savePrivateAfter(t, s, draft(c, alice, bob, "four", "t4"), tailAt(bob, 1), 4, "after a seq the client is behind on")
	savePrivateAfter(t, s, draft(c, alice, bob, "five", "t5"), tailAt(bob, 99), 5, "after a seq past the end")
	savePrivateAfter(t, s, draft(c, alice, bob, "six", "t6"), tailAt(bob, 0), 6, "from a client that holds nothing")
	savePrivateAfter(t, s, draft(c, alice, bob, "seven", ""), tailAt(carol, 3), 7, "with the end of another, longer conversation")
	savePrivateAfter(t, s, draft(c, alice, bob, "eight", "t8"), tailAt(bob, math.MaxInt64), 8, "after the largest seq there is")
	savePrivateAfter(t, s, draft(c, alice, dave, "first", "t9"), tailAt(carol, 3), 1, "first of a conversation, with the end of another")
	savePrivateAfter(t, s, draft(c, dave, alice, "second", ""), tailAt(dave, 5), 2, "after a seq the conversation does not have")
	ms := listPrivate(t, s, alice, bob, chat.Page{Limit: 10})
	if len(ms) != 8 {
		t.Fatalf("history holds %d messages, want 8", len(ms))
	}
	for i, m := range ms {
		if m.Seq != int64(8-i) {
			t.Fatalf("history item %d has seq %d, want %d: every seq once, none skipped", i, m.Seq, 8-i)
		}
	}
	if cs, err := s.Conversations(ctx, dave.UserID); err != nil || len(cs) != 1 {
		t.Fatalf("dave's conversations %+v, %v: the first message entered the conversation", cs, err)
	}
}

func testSavePrivateAndList(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	createUsers(t, s, alice, bob, carol)
	// Seq counts both directions of a conversation, from 1, apart from
	// every other conversation.
	m1 := savePrivate(t, s, draft(c, alice, bob, "hello\tthere\r\n🙂 <b>not html</b>", "a1"), 1)
	m2 := savePrivate(t, s, draft(c, bob, alice, "hi", ""), 2)
	o1 := savePrivate(t, s, draft(c, alice, carol, "other", "a2"), 1)
	m3 := savePrivate(t, s, draft(c, alice, bob, "again", "a3"), 3)
	if !(m1.MessageID < m2.MessageID && m2.MessageID < m3.MessageID) {
		t.Fatalf("ids do not sort by time: %s %s %s", m1.MessageID, m2.MessageID, m3.MessageID)
	}
	if m1.MessageID == o1.MessageID {
		t.Fatal("two conversations' first messages share an id")
	}
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Limit: 10}), newest(m1, m2, m3), "alice and bob")
	wantMessages(t, listPrivate(t, s, bob, alice, chat.Page{Limit: 10}), newest(m1, m2, m3), "the same from bob's side")
	wantMessages(t, listPrivate(t, s, carol, alice, chat.Page{Limit: 10}), newest(o1), "alice and carol")
	wantMessages(t, listPrivate(t, s, bob, carol, chat.Page{Limit: 10}), nil, "a conversation never had")
}

func testSaveAdmit(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	limited := &chat.Refusal{Kind: chat.ErrRateLimited, Reason: "slow down"}
	a := &counted{fn: refuseWith(limited)}
	_, _, err := s.SavePrivate(ctx, draft(c, alice, bob, "too fast", "x1"), chat.Tail{}, a.admit)
	wantErr(t, err, chat.ErrRateLimited, "SavePrivate refused by admit")
	if a.calls() != 1 {
		t.Fatalf("admit called %d times, want 1", a.calls())
	}
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Limit: 10}), nil, "nothing stored when admit refuses")
	// A refused id is free again: the retry is a first send.
	ok := &counted{fn: allow}
	m, created, err := s.SavePrivate(ctx, draft(c, alice, bob, "later", "x1"), chat.Tail{}, ok.admit)
	must(t, err, "SavePrivate after a refusal")
	if !created || m.Seq != 1 || ok.calls() != 1 {
		t.Fatalf("retry after a refusal: created %t, seq %d, admit called %d times", created, m.Seq, ok.calls())
	}
}

func testSaveResend(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	first := savePrivate(t, s, draft(c, alice, bob, "first", "m1"), 1)
	savePrivate(t, s, draft(c, bob, alice, "between", "m1"), 2) // bob's m1 is his own

	// A resend under the same id, even with other content and whatever the
	// limit says, stores nothing and answers with the first message.
	for name, admit := range map[string]*counted{"allowed": {fn: allow}, "refused": {fn: refuseWith(chat.ErrRateLimited)}} {
		got, created, err := s.SavePrivate(ctx, draft(c, alice, bob, "resent", "m1"), chat.Tail{}, admit.admit)
		must(t, err, "SavePrivate of a resend, "+name)
		if created {
			t.Fatalf("a resend (%s by the limit): created true", name)
		}
		wantMessage(t, got, first, "a resend returns the first message")
	}
	if ms := listPrivate(t, s, alice, bob, chat.Page{Limit: 10}); len(ms) != 2 {
		t.Fatalf("after resends: %d messages, want 2", len(ms))
	}
	// The id names the send, whoever it is resent to: the first message
	// comes back and carol's conversation stays empty.
	carol := newUser("carol")
	createUsers(t, s, carol)
	got, created, err := s.SavePrivate(ctx, draft(c, alice, carol, "to another", "m1"), chat.Tail{}, allow)
	must(t, err, "SavePrivate of the id to another recipient")
	if created {
		t.Fatal("the id resent to another recipient: created true")
	}
	wantMessage(t, got, first, "the id resent to another recipient returns the first message")
	if ms := listPrivate(t, s, alice, carol, chat.Page{Limit: 10}); len(ms) != 0 {
		t.Fatalf("carol's conversation after the id was resent to her: %d messages", len(ms))
	}
	// Without an id, every send is new.
	savePrivate(t, s, draft(c, alice, bob, "same", ""), 3)
	savePrivate(t, s, draft(c, alice, bob, "same", ""), 4)
}

func testConcurrentSaves(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	const n = 12
	drafts := make([]chat.Message, n)
	for i := range drafts {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		drafts[i] = draft(c, from, to, fmt.Sprint("m", i), fmt.Sprint("c", i))
	}
	stored := make([]chat.Message, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) { stored[i], _, errs[i] = s.SavePrivate(ctx, drafts[i], chat.Tail{}, allow) })
	var got []int64
	ids := map[string]bool{}
	for i := range n {
		must(t, errs[i], "SavePrivate")
		got = append(got, stored[i].Seq)
		ids[stored[i].MessageID] = true
	}
	slices.Sort(got)
	for i, q := range got {
		if q != int64(i+1) {
			t.Fatalf("%d sends at once: seqs %v, want 1..%d each once", n, got, n)
		}
	}
	if len(ids) != n {
		t.Fatalf("%d sends at once: %d distinct ids", n, len(ids))
	}
	if ms := listPrivate(t, s, alice, bob, chat.Page{Limit: 100}); len(ms) != n {
		t.Fatalf("history after %d sends at once: %d messages", n, len(ms))
	}
}

func testConcurrentResends(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	const n = 8
	m := draft(c, alice, bob, "once", "dup")
	stored := make([]chat.Message, n)
	created := make([]bool, n)
	errs := make([]error, n)
	testenv.Race(n, func(i int) { stored[i], created[i], errs[i] = s.SavePrivate(ctx, m, chat.Tail{}, allow) })
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			// A resend racing its first send may be told to retry, and
			// then finds it stored.
			wantErr(t, errs[i], chat.ErrThrottled, "SavePrivate racing its own id")
			var err error
			stored[i], created[i], err = s.SavePrivate(ctx, m, chat.Tail{}, allow)
			must(t, err, "SavePrivate retried")
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d sends of one id at once: %d created, want 1", n, nCreated)
	}
	for i := range n {
		if stored[i].MessageID != stored[0].MessageID {
			t.Fatalf("sends of one id answered with different messages: %s and %s", stored[0].MessageID, stored[i].MessageID)
		}
	}
	if ms := listPrivate(t, s, alice, bob, chat.Page{Limit: 100}); len(ms) != 1 {
		t.Fatalf("history after %d sends of one id: %d messages, want 1", n, len(ms))
	}
}

func testPaging(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	var all []chat.Message
	for i := range 7 {
		all = append(all, savePrivate(t, s, draft(c, alice, bob, fmt.Sprint("m", i), ""), int64(i+1)))
	}
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Limit: 3}), newest(all[4:]...), "newest page")
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Before: all[4].MessageID, Limit: 3}), newest(all[1:4]...), "before m4")
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Before: all[1].MessageID, Limit: 3}), newest(all[0]), "before m1")
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Before: all[0].MessageID, Limit: 3}), nil, "before the first")
	// After: the oldest Limit newer than the cursor, newest first.
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{After: all[1].MessageID, Limit: 3}), newest(all[2:5]...), "after m1")
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{After: all[5].MessageID, Limit: 3}), newest(all[6]), "after m5")
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{After: all[6].MessageID, Limit: 3}), nil, "after the last")
	// A cursor must be a message of this conversation.
	carol := newUser("carol")
	createUsers(t, s, carol)
	other := savePrivate(t, s, draft(c, alice, carol, "elsewhere", ""), 1)
	for _, bad := range []string{other.MessageID, newUserID()} {
		_, err := s.ListMessages(t.Context(), alice.UserID, bob.UserID, chat.Page{After: bad, Limit: 3})
		wantErr(t, err, chat.ErrBadRequest, "ListMessages with a cursor of another conversation")
	}
}

func testConversations(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	createUsers(t, s, alice, bob, carol)
	savePrivate(t, s, draft(c, bob, alice, "b1", ""), 1)
	savePrivate(t, s, draft(c, bob, alice, "b2", ""), 2)
	lastBob := savePrivate(t, s, draft(c, alice, bob, "a1", ""), 3)
	lastCarol := savePrivate(t, s, draft(c, carol, alice, "c1", ""), 1)

	convs, err := s.Conversations(ctx, alice.UserID)
	must(t, err, "Conversations")
	if len(convs) != 2 || convs[0].PeerID != carol.UserID || convs[1].PeerID != bob.UserID {
		t.Fatalf("alice's conversations %+v: want carol's then bob's (most recent first)", convs)
	}
	wantMessage(t, *convs[0].LastMessage, lastCarol, "last message with carol")
	wantMessage(t, *convs[1].LastMessage, lastBob, "last message with bob")
	if convs[0].Unread != 1 || convs[1].Unread != 2 || convs[0].ReadUpTo != "" || convs[1].PeerReadUpTo != "" {
		t.Fatalf("unread %d and %d (want 1 and 2), markers %+v", convs[0].Unread, convs[1].Unread, convs)
	}
	peers, err := s.ConversationPeers(ctx, alice.UserID)
	must(t, err, "ConversationPeers")
	slices.Sort(peers)
	want := []string{bob.UserID, carol.UserID}
	slices.Sort(want)
	if !slices.Equal(peers, want) {
		t.Fatalf("ConversationPeers = %q, want %q", peers, want)
	}
	bobs, err := s.Conversations(ctx, bob.UserID)
	must(t, err, "Conversations of bob")
	if len(bobs) != 1 || bobs[0].Unread != 1 {
		t.Fatalf("bob's conversations %+v: want one, with alice's one message unread", bobs)
	}
}

func testMarkRead(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	createUsers(t, s, alice, bob, carol)
	b1 := savePrivate(t, s, draft(c, bob, alice, "b1", ""), 1)
	b2 := savePrivate(t, s, draft(c, bob, alice, "b2", ""), 2)
	a3 := savePrivate(t, s, draft(c, alice, bob, "a3", ""), 3)
	b4 := savePrivate(t, s, draft(c, bob, alice, "b4", ""), 4)
	other := savePrivate(t, s, draft(c, carol, alice, "c1", ""), 1)

	unread := func(u, p chat.User) (int, string, string) {
		t.Helper()
		convs, err := s.Conversations(ctx, u.UserID)
		must(t, err, "Conversations")
		for _, cv := range convs {
			if cv.PeerID == p.UserID {
				return cv.Unread, cv.ReadUpTo, cv.PeerReadUpTo
			}
		}
		t.Fatalf("no conversation of %s with %s", u.Username, p.Username)
		return 0, "", ""
	}
	if n, _, _ := unread(alice, bob); n != 3 {
		t.Fatalf("unread before any read: %d, want 3", n)
	}
	m, moved, err := s.MarkRead(ctx, alice.UserID, bob.UserID, b2.MessageID)
	must(t, err, "MarkRead")
	if !moved || m.MessageID != b2.MessageID {
		t.Fatalf("MarkRead: moved %t, message %s", moved, m.MessageID)
	}
	if n, mine, _ := unread(alice, bob); n != 1 || mine != b2.MessageID {
		t.Fatalf("after reading up to b2: unread %d (want 1, b4), marker %s", n, mine)
	}
	if _, _, theirs := unread(bob, alice); theirs != b2.MessageID {
		t.Fatalf("bob sees alice's marker %q, want b2", theirs)
	}
	// Her own message counts for nothing; a marker never moves back.
	_, moved, err = s.MarkRead(ctx, alice.UserID, bob.UserID, b1.MessageID)
	must(t, err, "MarkRead of an older message")
	if moved {
		t.Fatal("MarkRead of an older message moved the marker back")
	}
	_, moved, err = s.MarkRead(ctx, alice.UserID, bob.UserID, a3.MessageID)
	must(t, err, "MarkRead of her own message")
	if n, mine, _ := unread(alice, bob); !moved || n != 1 || mine != a3.MessageID {
		t.Fatalf("after reading up to a3: moved %t, unread %d (want 1), marker %s", moved, n, mine)
	}
	_, _, err = s.MarkRead(ctx, alice.UserID, bob.UserID, other.MessageID)
	wantErr(t, err, chat.ErrNotFound, "MarkRead of another conversation's message")
	_, _, err = s.MarkRead(ctx, alice.UserID, bob.UserID, newUserID())
	wantErr(t, err, chat.ErrNotFound, "MarkRead of an unknown message")
	_, moved, err = s.MarkRead(ctx, alice.UserID, bob.UserID, b4.MessageID)
	must(t, err, "MarkRead of the newest")
	if n, _, _ := unread(alice, bob); !moved || n != 0 {
		t.Fatalf("after reading everything: unread %d", n)
	}
}

func testDeleteMessage(t *testing.T, s chat.Store) {
	ctx := t.Context()
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	a1 := savePrivate(t, s, draft(c, alice, bob, "keep", ""), 1)
	a2 := savePrivate(t, s, draft(c, alice, bob, "oops", ""), 2)
	b3 := savePrivate(t, s, draft(c, bob, alice, "reply", ""), 3)

	_, err := s.DeleteMessage(ctx, bob.UserID, a2.MessageID)
	wantErr(t, err, chat.ErrForbidden, "DeleteMessage by the recipient")
	_, err = s.DeleteMessage(ctx, newUserID(), a2.MessageID)
	wantErr(t, err, chat.ErrNotFound, "DeleteMessage by a stranger")
	_, err = s.DeleteMessage(ctx, alice.UserID, newUserID())
	wantErr(t, err, chat.ErrNotFound, "DeleteMessage of an unknown id")

	old, err := s.DeleteMessage(ctx, alice.UserID, a2.MessageID)
	must(t, err, "DeleteMessage")
	wantMessage(t, old, a2, "DeleteMessage returns the message as it was")
	gone := a2
	gone.Deleted, gone.Content = true, ""
	wantMessages(t, listPrivate(t, s, alice, bob, chat.Page{Limit: 10}), newest(a1, gone, b3), "history keeps the deleted message's seq")
	again, err := s.DeleteMessage(ctx, alice.UserID, a2.MessageID)
	must(t, err, "DeleteMessage twice")
	if !again.Deleted {
		t.Fatal("DeleteMessage twice: the message is not shown deleted")
	}
	// The deleted message is no longer unread.
	convs, err := s.Conversations(ctx, bob.UserID)
	must(t, err, "Conversations")
	if len(convs) != 1 || convs[0].Unread != 1 {
		t.Fatalf("bob's unread after alice deleted one of her two: %+v, want 1", convs)
	}
}

func testFileMessage(t *testing.T, s chat.Store) {
	c := newClock()
	alice, bob := newUser("alice"), newUser("bob")
	createUsers(t, s, alice, bob)
	m := draft(c, alice, bob, "", "f1")
	m.Kind = chat.KindPrivateFile
	m.File = &chat.FileRef{Key: "files/a/b/c", Name: "cat.png", Type: "image/png", Size: 12345, MessageType: "image"}
	stored := savePrivate(t, s, m, 1)
	wantMessages(t, listPrivate(t, s, bob, alice, chat.Page{Limit: 10}), []chat.Message{stored}, "a file message")
	old, err := s.DeleteMessage(t.Context(), alice.UserID, stored.MessageID)
	must(t, err, "DeleteMessage of a file")
	if old.File == nil || old.File.Key != "files/a/b/c" {
		t.Fatalf("DeleteMessage of a file returns %+v, want its file (for the caller to delete)", old)
	}
	if ms := listPrivate(t, s, bob, alice, chat.Page{Limit: 10}); ms[0].File != nil || !ms[0].Deleted {
		t.Fatalf("a deleted file message still shows %+v", ms[0])
	}
}
