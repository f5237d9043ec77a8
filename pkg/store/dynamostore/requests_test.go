package dynamostore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/protocol"
)

var (
	updateDoc  = flag.Bool("update-doc", false, "write the request counts measured on moto into docs/data-model.md")
	motoOthers = flag.Int("moto-others", 200, "the larger number of other users online in the request counts on moto "+
		"(moto copies the whole table on every transaction, so 2000 takes about a minute)")
)

// fewOthers and manyOthers are how many other users are online in the two
// runs of the action script that must make the same requests.
const (
	fewOthers  = 20
	manyOthers = 2000
)

// measured is one protocol action and what it cost.
type measured struct {
	action string
	usage
}

func TestRequestCounts(t *testing.T) {
	scales := [2]int{fewOthers, manyOthers}
	runs := requestCounts(t, func(t testing.TB) (tableAPI, string) { return newMinidyn(t) }, scales)
	t.Logf("measured on minidyn:\n%s", countsTable(runs, scales))
}

// requestCounts runs the action script on a fresh table with each number of
// other users online and checks that every action made the same requests.
func requestCounts(t *testing.T, newTable func(t testing.TB) (tableAPI, string), scales [2]int) map[int][]measured {
	runs := map[int][]measured{}
	for _, n := range scales {
		api, table := newTable(t)
		populate(t, api, table, n)
		runs[n] = runScript(t, api, table, "")
	}
	small, large := runs[scales[0]], runs[scales[1]]
	if len(small) != len(large) {
		t.Fatalf("the script measured %d actions at %d users and %d at %d", len(small), scales[0], len(large), scales[1])
	}
	for i := range small {
		a, b := small[i], large[i]
		if a.opsString() != b.opsString() {
			t.Errorf("%s: %s with %d other users online, %s with %d", a.action, a.opsString(), scales[0], b.opsString(), scales[1])
		}
		for _, m := range []measured{a, b} {
			if m.untracked > 0 {
				t.Errorf("%s: %d requests without ReturnConsumedCapacity=TOTAL", m.action, m.untracked)
			}
			// Even the widest action (a room of eight, a user's every
			// connection) stays far below this.
			if m.requests() > 16 {
				t.Errorf("%s: %d requests", m.action, m.requests())
			}
		}
	}
	return runs
}

// countsTable renders the measurements as the Markdown table of
// docs/data-model.md.
func countsTable(runs map[int][]measured, scales [2]int) string {
	small, large := runs[scales[0]], runs[scales[1]]
	var b strings.Builder
	fmt.Fprintf(&b, "| action | requests | by operation | RCU / WCU with %d others online | with %d |\n", scales[0], scales[1])
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for i, m := range large {
		s := small[i]
		fmt.Fprintf(&b, "| %s | %d | %s | %g / %g | %g / %g |\n", m.action, m.requests(), m.opsString(), s.rcu, s.wcu, m.rcu, m.wcu)
	}
	return b.String()
}

// writeCounts replaces the generated part of docs/data-model.md.
func writeCounts(t *testing.T, table string) {
	const (
		path  = "../../../docs/data-model.md"
		begin = "<!-- request-counts:begin -->\n"
		end   = "<!-- request-counts:end -->"
	)
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", path, begin, end)
	}
	s = s[:i+len(begin)] + table + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// populate puts others users online, the way the service would have left
// them: a profile (in gsi1, where SearchUsers looks) and a live connection
// each, and the first three seated in "lobby", where the script's user
// will sit. (Username claims and other rooms would only make the
// emulators' full-table work slower: no request of the script could
// touch them.)
func populate(t testing.TB, api tableAPI, table string, others int) {
	t.Helper()
	now := time.Now().UTC()
	var items []map[string]types.AttributeValue
	add := func(item map[string]types.AttributeValue, err error) {
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item)
	}
	lobby := chat.Room{Name: "lobby"}
	for i := range others {
		u := chat.User{UserID: fmt.Sprintf("u-other-%05d", i), Username: fmt.Sprintf("user%05d", i), PasswordHash: "h", CreatedAt: now}
		add(userItem(u))
		c := chat.Connection{ConnID: "c-" + u.Username, UserID: u.UserID, Username: u.Username, ConnectedAt: now, ExpiresAt: now.Add(chat.DefaultConnectionTTL)}
		attrs, err := connAttributes(c)
		add(withKey(connKey(c.ConnID), attrs), err)
		items = append(items, withKey(connIndexKey(u.UserID, c.ConnID), attrs))
		if i < 3 {
			lobby.Seats[i] = chat.Seat{UserID: u.UserID, Username: u.Username}
			lobby.Version++
			items = append(items, withKey(membershipKey(u.UserID, lobby.Name), map[string]types.AttributeValue{"room": strAV(lobby.Name)}))
		}
	}
	add(roomItem(lobby))
	for len(items) > 0 {
		n := min(len(items), 25)
		reqs := make([]types.WriteRequest, n)
		for i, item := range items[:n] {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == maxAttempts {
				t.Fatalf("populate: items still unprocessed after %d attempts", attempt)
			}
			out, err := api.BatchWriteItem(t.Context(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				t.Fatalf("populate: %v", err)
			}
			pending = out.UnprocessedItems
		}
		items = items[n:]
	}
}

// testClock is the service's and the store's clock: the script moves it a
// second ahead before each action, so that the rate limiter sees a user
// chatting at a human pace (except where the script sends in a burst).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// runScript plays every protocol action once through chat.Service on a
// metered store and returns what each cost. Its users, connections and
// client ids carry suffix, so that a benchmark can run it again and again
// on one table.
func runScript(t testing.TB, api tableAPI, table, suffix string) []measured {
	t.Helper()
	ctx := t.Context()
	m := newMeter(api, table)
	clk := &testClock{t: time.Now().UTC()}
	svc, err := chat.NewService(chat.Config{
		Store:     New(m, table, WithClock(clk.now)),
		Pusher:    nopPusher{},
		Tokens:    fakeTokens{},
		Passwords: fakePasswords{},
		Files:     noFiles{},
		Now:       clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []measured
	step := func(action string, burst bool, f func() error) {
		t.Helper()
		if !burst {
			clk.advance(time.Second)
		}
		m.start()
		err := f()
		u := m.stop()
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		out = append(out, measured{action, u})
	}
	setup := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	reply := func(rs []any, err error) error {
		if err != nil {
			return err
		}
		for _, r := range rs {
			if e, ok := r.(protocol.Error); ok {
				return fmt.Errorf("error frame %+v", e)
			}
		}
		return nil
	}

	var alice, bob protocol.Session
	step("POST /api/auth/register", false, func() (err error) {
		alice, err = svc.Register(ctx, "alice"+suffix, "password-a", "192.0.2.1")
		return err
	})
	bob, err = svc.Register(ctx, "bob"+suffix, "password-b", "192.0.2.1")
	setup("register bob", err)
	step("POST /api/auth/login", false, func() error {
		_, err := svc.LoginPassword(ctx, "alice"+suffix, "password-a", "192.0.2.1")
		return err
	})
	aliceID := chat.Identity{UserID: alice.UserID, Username: alice.Username}
	bobID := chat.Identity{UserID: bob.UserID, Username: bob.Username}
	aliceConn, bobConn, bobPhone := chat.Call{ConnID: "c-alice" + suffix}, chat.Call{ConnID: "c-bob" + suffix}, chat.Call{ConnID: "c-bob-phone" + suffix}
	step("$connect (token in the URL)", false, func() error { return svc.Connect(ctx, aliceConn, &aliceID) })
	setup("connect bob", svc.Connect(ctx, bobConn, &bobID))
	step("$connect (no token)", false, func() error { return svc.Connect(ctx, bobPhone, nil) })
	step("login", false, func() error {
		return reply(svc.Login(ctx, bobPhone, protocol.Request{Action: "login", Token: bob.Token}))
	})
	ping := protocol.Request{Action: "ping"}
	step("ping", false, func() error { return reply(svc.Ping(ctx, aliceConn, ping)) })

	send := protocol.Request{Action: "private-message", ID: "m1", To: bob.UserID, Content: "hello bob"}
	var sent string
	step("private-message", false, func() error {
		rs, err := svc.PrivateMessage(ctx, aliceConn, send)
		for _, r := range rs {
			if a, ok := r.(protocol.Ack); ok {
				sent = a.MessageID
			}
		}
		return reply(rs, err)
	})
	step("private-message (same id again)", false, func() error { return reply(svc.PrivateMessage(ctx, aliceConn, send)) })
	send.ID = "m2"
	step("private-message (second in a burst)", true, func() error { return reply(svc.PrivateMessage(ctx, aliceConn, send)) })
	step("GET /api/conversations", false, func() error {
		_, err := svc.Conversations(ctx, bobID)
		return err
	})
	step("GET /api/conversations/{peer}/messages", false, func() error {
		_, err := svc.History(ctx, bobID, alice.UserID, chat.Page{})
		return err
	})
	step("message-deleted", false, func() error {
		return reply(svc.MessageDeleted(ctx, aliceConn, protocol.Request{Action: "message-deleted", MessageID: sent}))
	})
	step("avatar-updated", false, func() error {
		return reply(svc.AvatarUpdated(ctx, aliceConn, protocol.Request{Action: "avatar-updated", Avatar: "🐧"}))
	})
	join := protocol.Request{Action: "joinroom", Room: "lobby"}
	step("joinroom", false, func() error { return reply(svc.JoinRoom(ctx, aliceConn, join)) })
	step("group-message", false, func() error {
		return reply(svc.GroupMessage(ctx, aliceConn, protocol.Request{Action: "group-message", ID: "g1", Room: "lobby", Msg: "hi all"}))
	})
	step("GET /api/rooms/{room}", false, func() error {
		_, err := svc.RoomInfo(ctx, aliceID, "lobby")
		return err
	})
	step("GET /api/users?prefix=", false, func() error {
		_, err := svc.SearchUsers(ctx, aliceID, "user")
		return err
	})
	leave := protocol.Request{Action: "leaveroom", Room: "lobby"}
	step("leaveroom", false, func() error { return reply(svc.LeaveRoom(ctx, aliceConn, leave)) })
	setup("join again", reply(svc.JoinRoom(ctx, aliceConn, join)))
	step("$disconnect (last connection, seated)", false, func() error { return svc.Disconnect(ctx, aliceConn) })
	return out
}

// noFiles stands in for object storage, which the script never touches
// (file messages cost the same store requests as text ones).
type noFiles struct{ chat.Files }

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, []byte) error { return nil }
func (nopPusher) Disconnect(context.Context, string) error   { return nil }

// fakeTokens are readable tokens: the script needs identities, not
// cryptography.
type fakeTokens struct{}

func (fakeTokens) Issue(id chat.Identity) (string, time.Time, error) {
	return "tok|" + id.UserID + "|" + id.Username, time.Now().Add(time.Hour), nil
}

func (fakeTokens) Verify(token string) (chat.Identity, error) {
	parts := strings.Split(token, "|")
	if len(parts) != 3 || parts[0] != "tok" {
		return chat.Identity{}, chat.ErrUnauthorized
	}
	return chat.Identity{UserID: parts[1], Username: parts[2]}, nil
}

// fakePasswords skip bcrypt's deliberate slowness.
type fakePasswords struct{}

func (fakePasswords) Hash(p string) (string, error) { return "plain|" + p, nil }
func (fakePasswords) Verify(hash, p string) bool    { return hash == "plain|"+p }
