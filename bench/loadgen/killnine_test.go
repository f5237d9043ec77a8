package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
)

// TestKillNineKeepsEveryAck builds the real `minichat serve`, drives a few
// seconds of mixed load at it (private messages, group messages in two
// rooms, leaves and joins, deletions, all with client ids), kills it with
// SIGKILL in the middle of that load, starts it again on the same data dir
// and checks through the HTTP API that every private message it
// acknowledged is in the history exactly once (deleted where the deletion
// was acknowledged), that no message or client id is stored twice, that no
// seat survived the restart, and that resending an acknowledged id after
// the restart returns the same message; then, from the file, that every
// acknowledged group message is in its room's epoch exactly once.
//
// It needs only Go; anything missing fails it.
func TestKillNineKeepsEveryAck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "minichat")
	// The same -race setting as this test binary, so that `go test -race`
	// reuses its own build cache (and runs the server under the detector).
	if err := buildMinichat(ctx, repo, bin, raceEnabled); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	srv, err := startMinichat(ctx, bin, data, filepath.Join(dir, "first.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	const nUsers = 4
	users, err := registerUsers(ctx, srv.baseURL(), "kill", nUsers, nUsers)
	if err != nil {
		t.Fatal(err)
	}
	rec := &ackLog{private: map[string]privAck{}, deleted: map[string]bool{}, group: map[string][]string{}, epochs: map[string][]string{}}

	// Load: one closed loop per user, until its connection dies.
	loadCtx, stopLoad := context.WithTimeout(ctx, 30*time.Second)
	defer stopLoad()
	var wg sync.WaitGroup
	var dupPushes []*atomic.Int64
	for i := range users {
		c, replies, dups, err := dialReplies(loadCtx, srv.addr, users[i])
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		dupPushes = append(dupPushes, dups)
		wg.Go(func() { killLoad(loadCtx, t, c, replies, i, users, rec) })
	}
	// Kill once the load is well under way, while it runs.
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(50 * time.Millisecond) {
		if rec.counts() >= 150 && time.Since(start) >= 2*time.Second {
			break
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.exited
	killedAt := rec.counts()
	wg.Wait()
	stopLoad()
	rec.mu.Lock()
	t.Logf("killed after %d acks: %d private, %d deletions, %d group; %d requests unanswered at the kill",
		killedAt, len(rec.private), len(rec.deleted), rec.groupCount(), rec.unanswered)
	if len(rec.private) == 0 || len(rec.deleted) == 0 || rec.groupCount() == 0 {
		rec.mu.Unlock()
		t.Fatalf("the load made too little before the kill to check anything (log: %s)", srv.log)
	}
	rec.mu.Unlock()
	for i, d := range dupPushes {
		if n := d.Load(); n > 0 {
			t.Errorf("user %d: %d private messages were pushed twice to its connection before the kill", i, n)
		}
	}

	// Restart on the same data dir: the tokens are still good (the JWT
	// secret lives there too).
	srv2, err := startMinichat(ctx, bin, data, filepath.Join(dir, "second.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.stop() })
	base := srv2.baseURL()

	checkHistories := func(stage string) map[string]historyItem {
		all := map[string]historyItem{}
		for a := 0; a < nUsers; a++ {
			for b := a + 1; b < nUsers; b++ {
				items := checkConversation(ctx, t, base, users[a], users[b], rec)
				for _, it := range items {
					if _, dup := all[it.MessageID]; dup {
						t.Errorf("%s: message %s is in two conversations", stage, it.MessageID)
					}
					all[it.MessageID] = it
				}
			}
		}
		for id, a := range rec.private {
			it, ok := all[a.messageID]
			switch {
			case !ok:
				t.Errorf("%s: acked private message %s (client id %s, %s -> %s) is not in the history", stage, a.messageID, id, a.from, a.to)
			case it.From != a.from || it.To != a.to:
				t.Errorf("%s: message %s is from %s to %s in the history, was acked from %s to %s", stage, a.messageID, it.From, it.To, a.from, a.to)
			case rec.deleted[a.messageID] && !it.Deleted:
				t.Errorf("%s: message %s was deleted (acked) but the history shows it", stage, a.messageID)
			case !it.Deleted && it.Content != a.content:
				t.Errorf("%s: message %s reads %q, was sent as %q", stage, a.messageID, it.Content, a.content)
			}
		}
		for id := range rec.deleted {
			if _, ok := all[id]; !ok {
				t.Errorf("%s: message %s whose deletion was acked is not in the history", stage, id)
			}
		}
		return all
	}
	all := checkHistories("after the restart")
	t.Logf("history after the restart: %d private messages, %d of them acked (the others were stored, but their ack was lost in the kill)", len(all), len(rec.private))

	// No seat survives the restart: no connection of the process before can
	// exist, so the rooms are empty (and their next join starts an epoch).
	for _, room := range []string{"k1", "k2"} {
		var info struct {
			Seats []struct {
				UserID *string `json:"userId"`
			} `json:"seats"`
		}
		if st, err := doJSON(ctx, http.MethodGet, base+"/api/rooms/"+room, users[0].Token, nil, &info); err != nil || st != http.StatusOK {
			t.Fatalf("GET /api/rooms/%s after the restart: %d %v", room, st, err)
		}
		for i, s := range info.Seats {
			if s.UserID != nil {
				t.Errorf("%s: seat %d still holds %s after the restart", room, i, *s.UserID)
			}
		}
	}

	// Resending an acked id after the restart gives the same message back
	// and stores nothing.
	c, replies, _, err := dialReplies(ctx, srv2.addr, users[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	resent := 0
	for id, a := range rec.private {
		if a.from != users[0].ID || resent == 5 {
			continue
		}
		resent++
		if err := c.sendPrivate(a.to, a.content, id); err != nil {
			t.Fatal(err)
		}
		ev, err := awaitReply(ctx, replies, id)
		if err != nil {
			t.Fatal(err)
		}
		if ev.kind != evAck || ev.msgID != a.messageID {
			t.Errorf("resent %s after the restart: got %s %s %s, want the ack of %s", id, ev.kindName(), ev.code, ev.msgID, a.messageID)
		}
	}
	if resent == 0 {
		t.Error("users[0] had no acked private message to resend")
	}
	if after := checkHistories("after the resends"); len(after) != len(all) {
		t.Errorf("the resends changed the history: %d messages, were %d", len(after), len(all))
	}

	// Group messages: their rooms' epochs ended with the restart, so their
	// history is read from the file once the server is gone; every acked
	// one is there once.
	c.close()
	if err := srv2.stop(); err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(data, "minichat.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	groups := 0
	for key, ids := range rec.epochs {
		room, epoch, _ := strings.Cut(key, "\x00")
		seen := map[string]int{}
		before := ""
		for {
			page, err := store.RoomMessages(ctx, room, epoch, chat.Page{Limit: 100, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page {
				seen[m.MessageID]++
			}
			if len(page) < 100 {
				break
			}
			before = page[len(page)-1].MessageID
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("acked group message %s of %s is stored %d times", id, room, seen[id])
			}
			groups++
		}
	}
	t.Logf("%d acked group messages checked in their epochs", groups)
}

// ackLog is what the server acknowledged before it was killed.
type ackLog struct {
	mu         sync.Mutex
	private    map[string]privAck  // by client id
	deleted    map[string]bool     // messageIds whose deletion was acked
	group      map[string][]string // room -> acked messageIds
	epochs     map[string][]string // room NUL epoch -> acked messageIds
	unanswered int
}

type privAck struct{ messageID, from, to, content string }

func (r *ackLog) counts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.private) + len(r.deleted) + r.groupCount()
}

func (r *ackLog) groupCount() int {
	n := 0
	for _, ids := range r.group {
		n += len(ids)
	}
	return n
}

// reply is an answer to a request, copied out of the reader's buffer.
type reply struct {
	kind  evKind
	id    string
	msgID string
	code  string
	epoch string
}

func (r reply) kindName() string {
	return map[evKind]string{evAck: "ack", evError: "error", evUpdate: "update", evFull: "full"}[r.kind]
}

// dialReplies connects u and routes every answer carrying a request id to
// the returned channel (closed with the connection); dups counts private
// messages pushed to it twice.
func dialReplies(ctx context.Context, addr string, u user) (*conn, chan reply, *atomic.Int64, error) {
	replies := make(chan reply, 256)
	pushed := map[string]bool{}
	dups := new(atomic.Int64)
	c, err := dial(ctx, protoMinichat, addr, u, func(ev *event) {
		switch ev.kind {
		case evPrivate:
			if pushed[string(ev.messageID)] {
				dups.Add(1)
			}
			pushed[string(ev.messageID)] = true
		case evAck, evError, evUpdate, evFull:
			if ev.id != "" {
				select {
				case replies <- reply{kind: ev.kind, id: ev.id, msgID: string(ev.messageID), code: ev.code, epoch: ev.epoch}:
				default:
				}
			}
		}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	go func() {
		<-c.done
		close(replies)
	}()
	return c, replies, dups, nil
}

// awaitReply waits for the answer to request id; other answers are late
// ones of requests already given up on.
func awaitReply(ctx context.Context, replies chan reply, id string) (reply, error) {
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-replies:
			if !ok {
				return reply{}, fmt.Errorf("connection closed before the answer to %s", id)
			}
			if r.id == id {
				return r, nil
			}
		case <-timer.C:
			return reply{}, fmt.Errorf("no answer to %s within 10 s", id)
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// killLoad is user i's closed loop: each request waits for its answer
// before the next; it ends when the connection dies (the kill).
func killLoad(ctx context.Context, t *testing.T, c *conn, replies chan reply, i int, users []user, rec *ackLog) {
	rnd := rand.New(rand.NewPCG(uint64(i), 9))
	me := users[i].ID
	seated := map[string]bool{}
	var mine []string // acked, not deleted
	n := 0
	ask := func(id string, send func() error) (reply, bool) {
		if err := send(); err != nil {
			return reply{}, false
		}
		r, err := awaitReply(ctx, replies, id)
		if err != nil {
			rec.mu.Lock()
			rec.unanswered++
			rec.mu.Unlock()
			return reply{}, false
		}
		return r, true
	}
	for _, room := range []string{"k1", "k2"} {
		n++
		id := fmt.Sprintf("j-%d-%d", i, n)
		r, ok := ask(id, func() error { return c.joinRoom(room, id) })
		if !ok {
			return
		}
		if r.kind != evUpdate {
			t.Errorf("user %d: joinroom %s: %s %s", i, room, r.kindName(), r.code)
			return
		}
		seated[room] = true
	}
	for ctx.Err() == nil {
		n++
		switch x := rnd.IntN(100); {
		case x < 55: // private message
			to := users[(i+1+rnd.IntN(len(users)-1))%len(users)].ID
			id := fmt.Sprintf("p-%d-%d", i, n)
			content := "kill9 " + id
			r, ok := ask(id, func() error { return c.sendPrivate(to, content, id) })
			if !ok {
				return
			}
			if r.kind != evAck {
				t.Errorf("user %d: private-message %s: %s %s", i, id, r.kindName(), r.code)
				continue
			}
			rec.mu.Lock()
			rec.private[id] = privAck{messageID: r.msgID, from: me, to: to, content: content}
			rec.mu.Unlock()
			mine = append(mine, r.msgID)
		case x < 75: // group message
			room := []string{"k1", "k2"}[rnd.IntN(2)]
			if !seated[room] {
				continue
			}
			id := fmt.Sprintf("g-%d-%d", i, n)
			r, ok := ask(id, func() error { return c.sendGroup(room, []byte("kill9-"+id), id) })
			if !ok {
				return
			}
			if r.kind != evAck {
				t.Errorf("user %d: group-message %s: %s %s", i, id, r.kindName(), r.code)
				continue
			}
			rec.mu.Lock()
			rec.group[room] = append(rec.group[room], r.msgID)
			rec.epochs[room+"\x00"+r.epoch] = append(rec.epochs[room+"\x00"+r.epoch], r.msgID)
			rec.mu.Unlock()
		case x < 90: // delete one of mine
			if len(mine) == 0 {
				continue
			}
			k := rnd.IntN(len(mine))
			victim := mine[k]
			id := fmt.Sprintf("d-%d-%d", i, n)
			r, ok := ask(id, func() error { return c.deleteMessage(victim, id) })
			if !ok {
				return
			}
			if r.kind != evAck {
				t.Errorf("user %d: message-deleted %s: %s %s", i, victim, r.kindName(), r.code)
				continue
			}
			rec.mu.Lock()
			rec.deleted[victim] = true
			rec.mu.Unlock()
			mine = slices.Delete(mine, k, k+1)
		default: // leave a room and join it again
			room := []string{"k1", "k2"}[rnd.IntN(2)]
			id := fmt.Sprintf("l-%d-%d", i, n)
			r, ok := ask(id, func() error { return c.leaveRoom(room, id) })
			if !ok {
				return
			}
			if r.kind != evAck {
				t.Errorf("user %d: leaveroom %s: %s %s", i, room, r.kindName(), r.code)
			}
			seated[room] = false
			id = fmt.Sprintf("j-%d-%d", i, n)
			r, ok = ask(id, func() error { return c.joinRoom(room, id) })
			if !ok {
				return
			}
			if r.kind != evUpdate {
				t.Errorf("user %d: joinroom %s: %s %s", i, room, r.kindName(), r.code)
				continue
			}
			seated[room] = true
		}
	}
}

// checkConversation reads the conversation of a and b from both sides,
// paging back with before/next and forward with after/next, and checks that
// the pages agree, are ordered newest first, and hold no message and no
// client id twice.
func checkConversation(ctx context.Context, t *testing.T, base string, a, b user, rec *ackLog) []historyItem {
	t.Helper()
	back, err := historyPages(ctx, base, a.Token, b.ID, "before", "", 17)
	if err != nil {
		t.Fatal(err)
	}
	fromB, err := historyPages(ctx, base, b.Token, a.ID, "before", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(items []historyItem) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = it.MessageID
		}
		return out
	}
	if !slices.Equal(ids(back), ids(fromB)) {
		t.Errorf("%s and %s see different histories: %d and %d messages", a.Name, b.Name, len(back), len(fromB))
	}
	seen, clientIDs := map[string]bool{}, map[string]string{}
	for i, it := range back {
		if seen[it.MessageID] {
			t.Errorf("%s-%s: message %s appears twice", a.Name, b.Name, it.MessageID)
		}
		seen[it.MessageID] = true
		if i > 0 && it.MessageID >= back[i-1].MessageID {
			t.Errorf("%s-%s: history not newest first at %d: %s after %s", a.Name, b.Name, i, it.MessageID, back[i-1].MessageID)
		}
		if it.Deleted {
			continue
		}
		cid, ok := strings.CutPrefix(it.Content, "kill9 ")
		if !ok {
			t.Errorf("%s-%s: message %s holds %q, which the test never sent", a.Name, b.Name, it.MessageID, it.Content)
			continue
		}
		if other, dup := clientIDs[cid]; dup {
			t.Errorf("%s-%s: client id %s stored twice, as %s and %s", a.Name, b.Name, cid, other, it.MessageID)
		}
		clientIDs[cid] = it.MessageID
	}
	// Catching up forward from the oldest gives the same messages.
	if len(back) > 1 {
		oldest := back[len(back)-1].MessageID
		fwd, err := historyPages(ctx, base, a.Token, b.ID, "after", oldest, 13)
		if err != nil {
			t.Fatal(err)
		}
		fwdIDs := append(ids(fwd), oldest)
		slices.Sort(fwdIDs)
		backIDs := ids(back)
		slices.Sort(backIDs)
		if !slices.Equal(fwdIDs, backIDs) {
			t.Errorf("%s-%s: paging forward with after gives %d messages, back with before %d", a.Name, b.Name, len(fwdIDs), len(backIDs))
		}
	}
	return back
}

// historyPages reads a whole conversation, a page of limit at a time,
// passing each page's next in the same parameter (dir: before or after).
func historyPages(ctx context.Context, base, token, peer, dir, cursor string, limit int) ([]historyItem, error) {
	var all []historyItem
	for page := 0; page < 10000; page++ {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set(dir, cursor)
		}
		var body struct {
			Messages []historyItem `json:"messages"`
			Next     string        `json:"next"`
		}
		if _, err := doJSON(ctx, http.MethodGet, base+"/api/conversations/"+peer+"/messages?"+q.Encode(), token, nil, &body); err != nil {
			return nil, err
		}
		if len(body.Messages) > limit {
			return nil, fmt.Errorf("a page of %d messages for limit %d", len(body.Messages), limit)
		}
		if dir == "after" {
			// Pages going forward come oldest page first, each newest first.
			all = append(body.Messages, all...)
		} else {
			all = append(all, body.Messages...)
		}
		if body.Next == "" {
			return all, nil
		}
		cursor = body.Next
	}
	return nil, fmt.Errorf("more than 10000 pages")
}
