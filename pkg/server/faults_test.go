package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/infra/provision"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/server"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
	"github.com/minichatbar/minichat/pkg/testenv/awsproxy"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

var updateReliability = flag.Bool("update-reliability", false, "write the fault matrix into docs/reliability.md")

// faultCell is one row of the fault matrix: what goes wrong, where, how
// often.
type faultCell struct {
	name  string
	where string // "dynamodb", "s3" or "push"
	fault awsproxy.Faults
}

// faultCells are the rows of the matrix. The store sends no DynamoDB
// transactions, so TransactionCanceledException has no row: nothing could
// receive it.
var faultCells = []faultCell{
	{name: "none", where: "dynamodb"},
	{name: "throttling 20%", where: "dynamodb", fault: awsproxy.Faults{Rate: 0.2, Kinds: []awsproxy.Fault{awsproxy.Throttle}}},
	{name: "500 and 503 10%", where: "dynamodb", fault: awsproxy.Faults{Rate: 0.1, Kinds: []awsproxy.Fault{awsproxy.ServerError, awsproxy.Unavailable}}},
	{name: "connection resets 10%", where: "dynamodb", fault: awsproxy.Faults{Rate: 0.1, Kinds: []awsproxy.Fault{awsproxy.Reset}}},
	{name: "answers lost 10%", where: "dynamodb", fault: awsproxy.Faults{Rate: 0.1, Kinds: []awsproxy.Fault{awsproxy.Lost}}},
	{name: "latency 40 ms 30%", where: "dynamodb", fault: awsproxy.Faults{Rate: 0.3, Kinds: []awsproxy.Fault{awsproxy.Latency}, Delay: 40 * time.Millisecond}},
	{name: "500, 503, resets 20%", where: "s3", fault: awsproxy.Faults{Rate: 0.2, Kinds: []awsproxy.Fault{awsproxy.ServerError, awsproxy.Unavailable, awsproxy.Reset}}},
	{name: "429 throttling 20%", where: "push", fault: awsproxy.Faults{Rate: 0.2, Kinds: []awsproxy.Fault{awsproxy.Throttle}}},
	{name: "500 and resets 20%", where: "push", fault: awsproxy.Faults{Rate: 0.2, Kinds: []awsproxy.Fault{awsproxy.ServerError, awsproxy.Reset}}},
	// Past the retries: some pushes fail for good and their connections
	// are closed, so that their clients reconnect and catch up.
	{name: "500 50%", where: "push", fault: awsproxy.Faults{Rate: 0.5, Kinds: []awsproxy.Fault{awsproxy.ServerError}}},
}

// faultReport is what one cell did.
type faultReport struct {
	cell                           faultCell
	injected                       int
	sent, acked, retried, resentOK int
	stored, deliveredLive          int
	repaired, reconnects           int
}

// TestFaults runs a mixed load (private and group messages, joins and
// leaves, deletions, file messages) against the local stack over DynamoDB
// and S3 on moto, with every request of one kind going through a proxy
// that injects a fault at the cell's rate, and holds what the chat
// promises whatever AWS does:
//   - a send is acknowledged only once stored, and stored once: every
//     acknowledged message is in history exactly once, and a send still
//     unanswered when the faults stop gets its ack when resent with its id;
//   - a failed push does not fail the send or the other deliveries: the
//     send is acked and in history, where a client whose connection the
//     server closed fetches it on reconnecting;
//   - seats hold exactly who joined, and no connection outlives its
//     socket past the first push that finds it gone.
func TestFaults(t *testing.T) {
	endpoint := moto.Start(t)
	tpl, err := samtemplate.Parse(minichat.Template)
	if err != nil {
		t.Fatal(err)
	}
	moto.Env(t, endpoint) // each cell points AWS_ENDPOINT_URL at its proxy
	var reports []faultReport
	for i, cell := range faultCells {
		t.Run(fmt.Sprintf("%s %s", cell.where, cell.name), func(t *testing.T) {
			reports = append(reports, runFaultCell(t, tpl, endpoint, i, cell))
		})
	}
	if t.Failed() {
		return
	}
	table := faultTable(reports)
	t.Logf("fault matrix:\n%s", table)
	if *updateReliability {
		writeFaultTable(t, table)
	}
}

func runFaultCell(t *testing.T, tpl *samtemplate.Template, endpoint string, n int, cell faultCell) faultReport {
	name := fmt.Sprintf("faults-%d", n)
	names := provision.OneName(tpl, name)
	if _, err := provision.Provision(t.Context(), tpl, moto.Config(endpoint), names, provision.WithPathStyle(true)); err != nil {
		t.Fatal(err)
	}
	awsP := awsproxy.Start(t, endpoint)
	t.Setenv("AWS_ENDPOINT_URL", awsP.URL)
	var push *awsproxy.Proxy
	opts := server.Options{
		Settings: app.Settings{
			Store: app.StoreDynamoDB, Table: name, Files: app.FilesS3, Bucket: name, PathStyle: true,
			DataDir: t.TempDir(),
		},
		AWSHTTPClient: newMotoRouter(t, awsP.URL),
		PushEndpoint: func(gateway string) string {
			push = awsproxy.Start(t, gateway)
			return push.URL
		},
	}
	opts.ChatLimits.SendRate, opts.ChatLimits.SendBurst = 1000, 1000
	s := startStack(t, opts)

	target := map[string]*awsproxy.Proxy{"dynamodb": awsP, "s3": awsP, "push": push}[cell.where]
	f := cell.fault
	f.Seed = uint64(n) + 1
	switch cell.where {
	case "dynamodb":
		f.Match = func(c awsproxy.Call) bool { return c.On == awsproxy.OnTable || c.On == awsproxy.OnIndex }
	case "s3":
		f.Match = func(c awsproxy.Call) bool { return c.On == awsproxy.OnObjects || c.On == awsproxy.OnBucket }
	}

	const users, actions = 4, 10
	load := newFaultLoad(t, s, endpoint, name, users)
	target.SetFaults(f)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() { load.run(i, actions, uint64(n*100+i)) })
	}
	wg.Wait()
	target.SetFaults(awsproxy.Faults{})
	rep := load.finish()
	rep.cell = cell
	for _, k := range target.Injected() {
		rep.injected += k
	}
	if cell.fault.Rate > 0 && rep.injected == 0 {
		t.Errorf("no fault was injected")
	}
	load.checkConnections()
	return rep
}

// faultLoad is the load of one cell: users, what they sent and what the
// server acknowledged.
type faultLoad struct {
	t               *testing.T
	s               *stack
	endpoint, table string // moto's, for what the API no longer shows
	room            string
	users           []*faultUser

	mu       sync.Mutex
	acked    map[string]faultSend // by client id
	unsure   map[string]faultSend // sends that ran out of tries
	deleted  map[string]bool      // messageId -> deletion acked
	retried  int
	sent     int
	reconns  atomic.Int64
	roomSeat map[string]bool // userId -> seated, as the acks said
}

type faultSend struct {
	frame     map[string]any
	from, to  string // to: a user id, or "" for the room
	content   string
	messageID string
	seq       float64
	epoch     string // the room's, for a group message
	user      int
}

func newFaultLoad(t *testing.T, s *stack, endpoint, table string, n int) *faultLoad {
	l := &faultLoad{t: t, s: s, endpoint: endpoint, table: table, room: "faults", acked: map[string]faultSend{}, unsure: map[string]faultSend{}, deleted: map[string]bool{}, roomSeat: map[string]bool{}}
	for i := range n {
		l.users = append(l.users, &faultUser{load: l, acct: s.register(fmt.Sprintf("f%d%s", i, uuid.NewString()[:6]))})
	}
	return l
}

// faultUser is one user's connection, redialled whenever the server
// closes it (a push that kept failing does), with every frame it received.
type faultUser struct {
	load *faultLoad
	acct account

	mu      sync.Mutex
	conn    *websocket.Conn
	replies map[string]chan map[string]any
	pushed  []map[string]any
	seated  bool
}

// errConnLost ends a wait for an answer on a connection that closed.
var errConnLost = errors.New("connection lost")

// connect returns the user's connection, dialling a new one if need be
// (fresh then).
func (u *faultUser) connect() (c *websocket.Conn, fresh bool, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
		return u.conn, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err = websocket.Dial(ctx, u.load.s.srv.WSURL+"?token="+url.QueryEscape(u.acct.Token), nil)
	if err != nil {
		return nil, false, err
	}
	c.SetReadLimit(1 << 20)
	u.conn = c
	go u.read(c)
	return c, true, nil
}

func (u *faultUser) read(c *websocket.Conn) {
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			u.mu.Lock()
			if u.conn == c {
				u.conn = nil
			}
			for id, ch := range u.replies {
				close(ch)
				delete(u.replies, id)
			}
			u.mu.Unlock()
			return
		}
		var f map[string]any
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		u.mu.Lock()
		if id, _ := f["id"].(string); id != "" && u.replies[id] != nil && (f["type"] == "ack" || f["type"] == "error" || f["type"] == "update" || f["type"] == "full" || f["type"] == "pong") {
			u.replies[id] <- f
			delete(u.replies, id)
		} else if f["type"] == "private-message" || f["type"] == "private-file-message" || f["type"] == "group-message" {
			u.pushed = append(u.pushed, f)
		}
		u.mu.Unlock()
	}
}

// request sends frame (with its id) until it is answered with anything but
// a retryable error, reconnecting (and taking the seat again) when the
// connection is lost; nil after the tries run out.
func (u *faultUser) request(frame map[string]any) map[string]any {
	id := frame["id"].(string)
	data, _ := json.Marshal(frame)
	for try := range 8 {
		if try > 0 {
			u.load.mu.Lock()
			u.load.retried++
			u.load.mu.Unlock()
			time.Sleep(time.Duration(20*(1<<try)) * time.Millisecond)
		}
		c, fresh, err := u.connect()
		if err != nil {
			continue
		}
		if fresh && u.seated && frame["action"] != "joinroom" {
			// A closed connection gave its seat up, as a client's SDK
			// knows: it takes it again first.
			u.request(map[string]any{"action": "joinroom", "room": u.load.room, "id": uuid.NewString()})
		}
		ch := make(chan map[string]any, 1)
		u.mu.Lock()
		if u.replies == nil {
			u.replies = map[string]chan map[string]any{}
		}
		u.replies[id] = ch
		u.mu.Unlock()
		if err := c.Write(context.Background(), websocket.MessageText, data); err != nil {
			continue
		}
		var reply map[string]any
		select {
		case r, ok := <-ch:
			if ok {
				reply = r
			}
		case <-time.After(4 * time.Second):
			// No answer (its push failed): take the connection for dead,
			// as the SDKs do, and send again.
			c.Close(websocket.StatusGoingAway, "no answer")
		}
		if reply == nil {
			u.load.reconns.Add(1)
			continue
		}
		if reply["type"] == "error" && (reply["code"] == "internal" || reply["code"] == "rate-limited") {
			continue
		}
		return reply
	}
	return nil
}

func (l *faultLoad) run(i, actions int, seed uint64) {
	u := l.users[i]
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	join := func() {
		r := u.request(map[string]any{"action": "joinroom", "room": l.room, "id": uuid.NewString()})
		if r != nil && r["type"] == "update" {
			u.seated = true
			l.mu.Lock()
			l.roomSeat[u.acct.UserID] = true
			l.mu.Unlock()
		}
	}
	join()
	var mine []string // own acked private messages
	for a := range actions {
		switch k := rng.IntN(10); {
		case k < 4 || !u.seated && k < 7:
			peer := l.users[(i+1+rng.IntN(len(l.users)-1))%len(l.users)]
			l.send(u, i, peer.acct.UserID, map[string]any{"action": "private-message", "to": peer.acct.UserID}, "content", &mine)
		case k < 7:
			l.send(u, i, "", map[string]any{"action": "group-message", "room": l.room}, "msg", nil)
		case k < 8 && len(mine) > 0:
			id := mine[rng.IntN(len(mine))]
			r := u.request(map[string]any{"action": "message-deleted", "messageId": id, "id": uuid.NewString()})
			if r != nil && r["type"] == "ack" {
				l.mu.Lock()
				l.deleted[id] = true
				l.mu.Unlock()
			}
		case k < 9 && a%3 == 0:
			l.sendFile(u, i, l.users[(i+1)%len(l.users)].acct.UserID)
		default:
			if r := u.request(map[string]any{"action": "leaveroom", "room": l.room, "id": uuid.NewString()}); r != nil && r["type"] == "ack" {
				u.seated = false
				l.mu.Lock()
				l.roomSeat[u.acct.UserID] = false
				l.mu.Unlock()
			}
			join()
		}
	}
}

// send makes one send with a fresh client id and records its answer.
func (l *faultLoad) send(u *faultUser, i int, to string, frame map[string]any, field string, mine *[]string) {
	id := uuid.NewString()
	content := "fault " + id
	frame["id"], frame[field] = id, content
	s := faultSend{frame: frame, from: u.acct.UserID, to: to, content: content, user: i}
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	r := u.request(frame)
	l.record(id, s, r, mine)
}

func (l *faultLoad) record(id string, s faultSend, r map[string]any, mine *[]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case r == nil:
		l.unsure[id] = s
	case r["type"] == "ack":
		s.messageID, _ = r["messageId"].(string)
		s.seq, _ = r["seq"].(float64)
		s.epoch, _ = r["epoch"].(string)
		l.acked[id] = s
		if mine != nil && s.to != "" {
			*mine = append(*mine, s.messageID)
		}
	case r["type"] == "error" && r["code"] == "forbidden" && s.to == "":
		// A group message from a user whose seat a failed join did not
		// give: refused, nothing stored.
	default:
		l.t.Errorf("send %s answered %v", id, r)
	}
}

// sendFile uploads a file over HTTP and S3 (each retried on a passing
// error) and sends it as a private file message.
func (l *faultLoad) sendFile(u *faultUser, i int, to string) {
	var up struct {
		FileKey string
		Upload  struct {
			URL    string
			Fields map[string]string
		}
	}
	body := map[string]any{"fileName": "dot.png", "fileType": "image/png", "size": len(filestest.PNG), "to": to}
	ok := false
	for range 6 {
		if st := l.s.call("POST", "/api/files", u.acct.Token, body, &up); st == http.StatusOK {
			ok = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		return
	}
	uploaded := false
	for range 6 {
		if err := postForm(up.Upload.URL, up.Upload.Fields, filestest.PNG); err == nil {
			uploaded = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !uploaded {
		return
	}
	id := uuid.NewString()
	frame := map[string]any{"action": "private-file-message", "id": id, "to": to, "fileKey": up.FileKey, "fileName": "dot.png", "fileType": "image/png", "messageType": "image"}
	s := faultSend{frame: frame, from: u.acct.UserID, to: to, content: "", user: i}
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	l.record(id, s, u.request(frame), nil)
}

// postForm uploads data as S3's browser form POST does.
func postForm(target string, fields map[string]string, data []byte) error {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "dot.png")
	_, _ = fw.Write(data)
	_ = w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", target, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload: HTTP %d", resp.StatusCode)
	}
	return nil
}

// finish resends, with the faults off, every send that ran out of tries,
// then holds history, deliveries and seats to what was acknowledged.
func (l *faultLoad) finish() faultReport {
	t := l.t
	rep := faultReport{sent: l.sent, retried: l.retried}
	for id, s := range l.unsure {
		r := l.users[s.user].request(s.frame)
		if r == nil || r["type"] != "ack" {
			t.Errorf("send %s, resent with its id once the faults stopped, answered %v", id, r)
			continue
		}
		s.messageID, _ = r["messageId"].(string)
		s.seq, _ = r["seq"].(float64)
		s.epoch, _ = r["epoch"].(string)
		l.acked[id] = s
		rep.resentOK++
	}
	rep.acked = len(l.acked) - rep.resentOK
	rep.reconnects = int(l.reconns.Load())

	// Every user's frames have arrived once the server is idle.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.s.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// Private history: each acked message once, under its id; nothing
	// else of this load's contents twice.
	stored := map[string]map[string]any{} // messageId -> item
	contents := map[string]int{}
	for a := range l.users {
		for b := a + 1; b < len(l.users); b++ {
			for _, it := range l.history("/api/conversations/"+l.users[b].acct.UserID+"/messages", l.users[a].acct.Token) {
				stored[it["messageId"].(string)] = it
				if c, _ := it["content"].(string); c != "" {
					contents[c]++
				}
			}
		}
	}
	// Room history, of every epoch the room had, read from the table: an
	// epoch ends with its room's last seat, and its messages are then out
	// of the API's reach but still the room's (a duplicate in an epoch no
	// ack names counts too).
	db := dynamostore.New(dynamodb.NewFromConfig(moto.Config(l.endpoint)), l.table)
	epochs := l.roomEpochs()
	for _, s := range l.acked {
		if s.to == "" && !epochs[s.epoch] {
			t.Errorf("group message %s was acked in epoch %q, which holds no message", s.messageID, s.epoch)
		}
	}
	for epoch := range epochs {
		for _, m := range l.roomHistory(db, epoch) {
			stored[m.MessageID] = map[string]any{"messageId": m.MessageID, "room": m.Room, "from": m.From, "msg": m.Content}
			contents[m.Content]++
		}
	}
	for c, n := range contents {
		if n > 1 {
			t.Errorf("%q is stored %d times", c, n)
		}
	}
	for id, s := range l.acked {
		it, ok := stored[s.messageID]
		switch {
		case !ok:
			t.Errorf("acked send %s (message %s) is not in history", id, s.messageID)
		case s.content != "" && !l.deleted[s.messageID] && it["content"] != s.content && it["msg"] != s.content:
			t.Errorf("message %s reads %v, was sent as %q", s.messageID, it, s.content)
		}
	}
	rep.stored = len(stored)

	// Deliveries, counted for the report: a stored private message either
	// reached its recipient live or did not (its push failed for good and
	// the connection was closed, so the client reconnects and fetches, or
	// the recipient was not connected); history holds it either way, as
	// checked above.
	for _, u := range l.users {
		u.mu.Lock()
		got := map[string]bool{}
		for _, f := range u.pushed {
			got[f["messageId"].(string)] = true
		}
		u.mu.Unlock()
		for mid, it := range stored {
			if it["to"] != u.acct.UserID && (it["room"] == nil || it["from"] == u.acct.UserID) {
				continue
			}
			if it["room"] != nil {
				continue // room deliveries depend on who sat when; counted below only if live
			}
			if got[mid] {
				rep.deliveredLive++
			} else {
				rep.repaired++
			}
		}
	}

	// Seats: exactly the users whose last seat change was acknowledged as
	// taken, at most 8, once every user is back online: a connection the
	// server closed (its push kept failing) gave its seat up, and its
	// client takes it again on reconnecting, as the SDKs do.
	if err := l.s.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range l.users {
		if r := u.request(map[string]any{"action": "ping", "id": uuid.NewString()}); r == nil || r["type"] != "pong" {
			t.Errorf("ping once the faults stopped answered %v", r)
		}
	}
	var room struct {
		Seats []struct {
			UserID *string `json:"userId"`
		}
	}
	if st := l.s.call("GET", "/api/rooms/"+l.room, l.users[0].acct.Token, nil, &room); st != http.StatusOK {
		t.Fatalf("GET the room: %d", st)
	}
	var seated, want []string
	for _, s := range room.Seats {
		if s.UserID != nil {
			seated = append(seated, *s.UserID)
		}
	}
	for id, in := range l.roomSeat {
		if in {
			want = append(want, id)
		}
	}
	slices.Sort(seated)
	slices.Sort(want)
	if len(room.Seats) != 8 || !slices.Equal(seated, want) {
		t.Errorf("seats %v (of %d), want %v", seated, len(room.Seats), want)
	}
	return rep
}

// scan decodes every item of the cell's table into a new T and hands it
// to each: a test's Scan of what the API does not show, not a request
// path's.
func scan[T any](l *faultLoad, each func(T)) {
	client := dynamodb.NewFromConfig(moto.Config(l.endpoint))
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(l.table)})
	for p.HasMorePages() {
		out, err := p.NextPage(l.t.Context())
		if err != nil {
			l.t.Fatal(err)
		}
		for _, item := range out.Items {
			var v T
			if attributevalue.UnmarshalMap(item, &v) == nil {
				each(v)
			}
		}
	}
}

// roomEpochs lists the epochs of the load's room that hold a message.
func (l *faultLoad) roomEpochs() map[string]bool {
	epochs := map[string]bool{}
	scan(l, func(m struct {
		Pk    string `dynamodbav:"pk"`
		Epoch string `dynamodbav:"epoch"`
	}) {
		if m.Pk == "ROOM#"+l.room && m.Epoch != "" {
			epochs[m.Epoch] = true
		}
	})
	return epochs
}

// roomHistory reads every message of one epoch of the load's room from
// the table, newest first.
func (l *faultLoad) roomHistory(db *dynamostore.DynamoStore, epoch string) []chat.Message {
	var out []chat.Message
	p := chat.Page{Limit: 100}
	for {
		page, err := db.RoomMessages(l.t.Context(), l.room, epoch, p)
		if err != nil {
			l.t.Fatalf("room %s epoch %s: %v", l.room, epoch, err)
		}
		out = append(out, page...)
		if len(page) < p.Limit {
			return out
		}
		p.Before = page[len(page)-1].MessageID
	}
}

// history reads every page of a history, newest first.
func (l *faultLoad) history(path, token string) []map[string]any {
	var out []map[string]any
	before := ""
	for {
		var page struct {
			Messages []map[string]any
			Next     string
		}
		q := path + "?limit=100"
		if before != "" {
			q += "&before=" + before
		}
		if st := l.s.call("GET", q, token, nil, &page); st != http.StatusOK {
			l.t.Fatalf("GET %s: %d", q, st)
		}
		out = append(out, page.Messages...)
		if page.Next == "" {
			return out
		}
		before = page.Next
	}
}

// checkConnections closes every socket and holds that no connection item
// outlives it: $disconnect removes it, or, if that failed under the
// faults, the first push that finds it gone does.
func (l *faultLoad) checkConnections() {
	t := l.t
	for _, u := range l.users {
		u.mu.Lock()
		if u.conn != nil {
			u.conn.Close(websocket.StatusNormalClosure, "")
		}
		u.mu.Unlock()
	}
	conns := func() []string {
		var ids []string
		scan(l, func(c struct {
			Pk     string `dynamodbav:"pk"`
			ConnID string `dynamodbav:"connId"`
			TTL    int64  `dynamodbav:"ttl"`
		}) {
			if !strings.HasPrefix(c.Pk, "CONN#") {
				return
			}
			// A sibling list that a user's $connect wrote onto a
			// connection closing at that moment: the store bounds its
			// life to a minute (dynamostore.aheadTTL) instead.
			if c.ConnID == "" && c.TTL > 0 && time.Unix(c.TTL, 0).Before(time.Now().Add(2*time.Minute)) {
				return
			}
			ids = append(ids, c.Pk)
		})
		return ids
	}
	settled := func() []string {
		deadline := time.Now().Add(10 * time.Second)
		left := conns()
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			left = conns()
		}
		return left
	}
	if len(settled()) == 0 {
		return
	}
	// A $disconnect lost to a fault, or a $connect that failed after it
	// wrote the connection: one message to each user finds them, and the
	// fan-out after its answer forgets what is gone.
	sender := l.s.register("sweeper" + uuid.NewString()[:6])
	for _, u := range l.users {
		l.s.call("POST", "/api/conversations/"+u.acct.UserID+"/messages", sender.Token, map[string]string{"content": "sweep"}, nil)
	}
	if left := settled(); len(left) > 0 {
		t.Errorf("connection items outlive their sockets and a push: %v", left)
	}
}

func faultTable(reports []faultReport) string {
	var b strings.Builder
	b.WriteString("| where | fault | injected | sends | acked | retries | unanswered, then acked on resend | stored | delivered live | not live, in history | timeouts and lost connections |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range reports {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			r.cell.where, r.cell.name, r.injected, r.sent, r.acked, r.retried, r.resentOK, r.stored, r.deliveredLive, r.repaired, r.reconnects)
	}
	return b.String()
}

const (
	faultsBegin = "<!-- faults: generated by `go test ./pkg/server -run TestFaults -update-reliability`; edit outside these marks -->"
	faultsEnd   = "<!-- faults: end -->"
)

func writeFaultTable(t *testing.T, table string) {
	const path = "../../docs/reliability.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	section := faultsBegin + "\n" + fmt.Sprintf("Measured on %s.\n\n", time.Now().UTC().Format("2006-01-02")) + table + faultsEnd
	s := string(doc)
	i, j := strings.Index(s, faultsBegin), strings.Index(s, faultsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no faults marks", path)
	}
	s = s[:i] + section + s[j+len(faultsEnd):]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
