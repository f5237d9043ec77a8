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

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
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

// budget is the most one action may cost: requests, and write units.
type budget struct {
	requests int
	wcu      float64
}

// budgets are the limits docs/data-model.md states, per action of the
// script: the issue's 4 requests and 3 WCU a send, 2 requests a resend.
// What goes over is said in the data model's "Budgets": a conversation's
// first message, the second token of a burst, and a client that tells no
// lastSeq.
var budgets = map[string]budget{
	"private-message":                             {4, 3},
	"private-message (same id again)":             {2, 0},
	"private-message (second in a burst)":         {5, 4},
	"private-message (no lastSeq)":                {5, 3},
	"private-message (no lastSeq, same id again)": {4, 3},
	"group-message":                               {4, 3},
	"group-message (same id again)":               {2, 0},
	"joinroom":                                    {5, 5},
	"leaveroom":                                   {5, 5},
	"$connect (token in the URL)":                 {5, 5},
	"$connect (no token)":                         {5, 5},
	"$disconnect (last connection, seated)":       {5, 5},
	"message-deleted":                             {5, 5},
	"avatar-updated":                              {5, 5},
	"read":                                        {5, 1},
	"typing (private)":                            {2, 1},
	"typing (room)":                               {2, 1},
	"subscribe-presence":                          {3, 3},
	"private-message (first of a conversation)":   {6, 5},
}

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
			if m.ops["Scan"] > 0 {
				t.Errorf("%s: a Scan", m.action)
			}
			limit, ok := budgets[m.action]
			if !ok {
				limit = budget{requests: 16, wcu: 16}
			}
			if m.requests() > limit.requests || m.wcu > limit.wcu {
				t.Errorf("%s: %d requests and %g WCU (%s), over its budget of %d and %g", m.action, m.requests(), m.wcu, m.opsString(), limit.requests, limit.wcu)
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
// them: a profile and a live connection each (with the connection on the
// profile), and the first three seated in "lobby", where the script's
// user will sit. (Username claims and other rooms would only make the
// emulators' full-table work slower: no request of the script could touch
// them.)
func populate(t testing.TB, api tableAPI, table string, others int) {
	t.Helper()
	now := time.Now().UTC()
	var items []map[string]types.AttributeValue
	add := func(v any, k map[string]types.AttributeValue) {
		av, err := attributevalue.MarshalMap(v)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, withKey(k, av))
	}
	exp := now.Add(chat.DefaultConnectionTTL)
	lobby := roomAttrs{Room: "lobby", Epoch: "0193a000-0000-7000-8000-000000000001", Seats: make([]*seatAttrs, chat.SeatCount)}
	for i := range others {
		id := fmt.Sprintf("u-other-%05d", i)
		name := fmt.Sprintf("user%05d", i)
		conn := "c-" + name
		p := profileAttrs{UserID: id, Username: name, CreatedAt: formatTime(now), Conns: map[string]int64{conn: exp.UnixMilli()}, Rooms: map[string]int{}}
		if i < 3 {
			p.Rooms["lobby"] = i
			lobby.Seats[i] = &seatAttrs{UserID: id, Username: name, Conns: p.Conns}
			lobby.Version++
		}
		add(p, profileKey(id))
		add(connAttrs{ConnID: conn, UserID: id, Username: name, ConnectedAt: formatTime(now), ExpiresAt: formatTime(exp), TTL: epochCeil(exp), Sibs: p.Conns, SibsV: 1}, connKey(conn))
	}
	add(lobby, roomKey("lobby"))
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
// metered store and limiter and returns what each cost. Its users,
// connections and client ids carry suffix, so that a benchmark can run it
// again and again on one table.
func runScript(t testing.TB, api tableAPI, table, suffix string) []measured {
	t.Helper()
	ctx := t.Context()
	m := newMeter(api, table)
	clk := &testClock{t: time.Now().UTC()}
	svc, err := chat.NewService(chat.Config{
		Store:     New(m, table, WithClock(clk.now)),
		Limiter:   NewLimiter(m, table, WithClock(clk.now)),
		Pusher:    nopPusher{},
		Encoder:   edge.Wire{},
		Tokens:    fakeTokens{},
		Passwords: fakePasswords{},
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

	var alice, bob chat.Session
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
	aliceID, bobID := alice.Identity, bob.Identity
	aliceConn, bobConn, bobPhone := chat.Call{ConnID: "c-alice" + suffix}, chat.Call{ConnID: "c-bob" + suffix}, chat.Call{ConnID: "c-bob-phone" + suffix}
	step("$connect (token in the URL)", false, func() error { return svc.Connect(ctx, aliceConn, &aliceID) })
	setup("connect bob", svc.Connect(ctx, bobConn, &bobID))
	// API Gateway passes what the $connect authorizer said with every
	// event of a connection that connected with a token.
	aliceConn.Identity, bobConn.Identity = &aliceID, &bobID
	step("$connect (no token)", false, func() error { return svc.Connect(ctx, bobPhone, nil) })
	step("login", false, func() error {
		_, err := svc.Login(ctx, bobPhone, bob.Token)
		return err
	})
	step("subscribe-presence", false, func() error {
		_, err := svc.SubscribePresence(ctx, bobConn, []string{aliceID.UserID})
		return err
	})

	send := chat.PrivateSend{To: bob.UserID, Content: "hello bob", ClientID: "m0"}
	step("private-message (first of a conversation)", false, func() error {
		_, err := svc.SendPrivate(ctx, aliceConn.Sender(), send, nil)
		return err
	})
	send.ClientID = "m1"
	// The client tells the newest seq it holds (lastSeq), as the SDKs do.
	held := int64(1)
	send.LastSeq = &held
	var sent chat.Message
	step("private-message", false, func() (err error) {
		sent, err = svc.SendPrivate(ctx, aliceConn.Sender(), send, nil)
		return err
	})
	// The resend comes at once, and the next send too: a burst.
	step("private-message (same id again)", true, func() error {
		_, err := svc.SendPrivate(ctx, aliceConn.Sender(), send, nil)
		return err
	})
	send.ClientID = "m2"
	held = 2
	step("private-message (second in a burst)", true, func() error {
		_, err := svc.SendPrivate(ctx, aliceConn.Sender(), send, nil)
		return err
	})
	// A v1 client tells no seq: the store reads the newest message.
	v1 := chat.PrivateSend{To: bob.UserID, Content: "hello bob", ClientID: "m3"}
	step("private-message (no lastSeq)", false, func() error {
		_, err := svc.SendPrivate(ctx, aliceConn.Sender(), v1, nil)
		return err
	})
	step("private-message (no lastSeq, same id again)", false, func() error {
		_, err := svc.SendPrivate(ctx, aliceConn.Sender(), v1, nil)
		return err
	})
	step("typing (private)", false, func() error {
		_, err := svc.Typing(ctx, bobConn, chat.TypingInput{To: aliceID.UserID, State: chat.TypingStart})
		return err
	})
	step("read", false, func() error { return svc.MarkRead(ctx, bobConn, aliceID.UserID, sent.MessageID) })
	step("GET /api/conversations", false, func() error {
		_, err := svc.Conversations(ctx, bobID)
		return err
	})
	step("GET /api/conversations/{peer}/messages", false, func() error {
		_, err := svc.History(ctx, bobID, alice.UserID, chat.Page{})
		return err
	})
	step("message-deleted", false, func() error { return svc.DeleteMessage(ctx, aliceConn.Sender(), sent.MessageID) })
	step("avatar-updated", false, func() error {
		_, err := svc.SetAvatar(ctx, aliceConn.Sender(), "🐧")
		return err
	})
	step("joinroom", false, func() error {
		r, err := svc.JoinRoom(ctx, aliceConn, "lobby")
		if err == nil && !r.Joined {
			err = fmt.Errorf("not seated: %+v", r)
		}
		return err
	})
	group := chat.GroupSend{Room: "lobby", Msg: "hi all", ClientID: "g1"}
	step("group-message", false, func() error {
		_, err := svc.SendGroup(ctx, aliceConn, group, nil)
		return err
	})
	step("group-message (same id again)", false, func() error {
		_, err := svc.SendGroup(ctx, aliceConn, group, nil)
		return err
	})
	step("typing (room)", false, func() error {
		_, err := svc.Typing(ctx, aliceConn, chat.TypingInput{Room: "lobby", State: chat.TypingStart})
		return err
	})
	step("GET /api/rooms/{room}", false, func() error {
		_, err := svc.RoomInfo(ctx, aliceID, "lobby")
		return err
	})
	step("GET /api/rooms/{room}/messages", false, func() error {
		_, err := svc.RoomHistory(ctx, aliceID, "lobby", chat.Page{})
		return err
	})
	step("GET /api/users?prefix=", false, func() error {
		_, err := svc.SearchUsers(ctx, aliceID, "user")
		return err
	})
	step("leaveroom", false, func() error { return svc.LeaveRoom(ctx, aliceConn, "lobby") })
	_, err = svc.JoinRoom(ctx, aliceConn, "lobby")
	setup("join again", err)
	step("$disconnect (last connection, seated)", false, func() error { return svc.Disconnect(ctx, aliceConn) })
	return out
}

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, []byte) error  { return nil }
func (nopPusher) Disconnect(context.Context, string) error    { return nil }
func (nopPusher) Alive(context.Context, string) (bool, error) { return true, nil }

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
