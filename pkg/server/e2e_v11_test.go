package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/server"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

// testPresenceTypingRead walks protocol v1.1's presence, typing and read
// receipts through the stack, with their hostile cases.
func testPresenceTypingRead(t *testing.T, s *stack) {
	alice, bob, eve := s.register("alice"), s.register("bob"), s.register("eve")
	a := s.dial(t, alice.Token)

	// 101 ids are refused, nothing subscribed.
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
	}
	if r := a.request(map[string]any{"action": "subscribe-presence", "userIds": ids}); r["code"] != "bad-request" {
		t.Fatalf("subscribing to 101 ids: %v", r)
	}
	st := a.request(map[string]any{"action": "subscribe-presence", "userIds": []string{bob.UserID}})
	if users := st["users"].([]any); st["type"] != "presence-state" || len(users) != 1 || users[0].(map[string]any)["online"] != false {
		t.Fatalf("presence-state = %v", st)
	}
	b := s.dial(t, bob.Token)
	if p := a.expect("presence"); p["userId"] != bob.UserID || p["online"] != true {
		t.Fatalf("presence when bob connected = %v", p)
	}

	// Typing: relayed to the peer; into a room without a seat, forbidden.
	b.send(map[string]string{"action": "typing", "to": alice.UserID, "state": "start"})
	if ty := a.expect("typing"); ty["from"] != bob.UserID || ty["state"] != "start" {
		t.Fatalf("typing = %v", ty)
	}
	if r := b.request(map[string]string{"action": "typing", "room": "nowhere", "state": "start"}); r["code"] != "forbidden" {
		t.Fatalf("typing in a room without a seat: %v", r)
	}

	// Read receipts: the peer hears; someone else's conversation is not
	// the reader's to mark.
	ack := a.request(map[string]string{"action": "private-message", "to": bob.UserID, "content": "read me"})
	if ack["type"] != "ack" || ack["seq"] != 1.0 {
		t.Fatalf("ack = %v", ack)
	}
	b.expect("private-message")
	if r := b.request(map[string]string{"action": "read", "peerId": alice.UserID, "messageId": ack["messageId"].(string)}); r["type"] != "ack" {
		t.Fatalf("read = %v", r)
	}
	if rd := a.expect("read"); rd["by"] != bob.UserID || rd["messageId"] != ack["messageId"] {
		t.Fatalf("read push = %v", rd)
	}
	e := s.dial(t, eve.Token)
	if r := e.request(map[string]string{"action": "read", "peerId": alice.UserID, "messageId": ack["messageId"].(string)}); r["code"] != "not-found" {
		t.Fatalf("eve reading alice and bob's message: %v", r)
	}
	var convs []map[string]any
	s.call("GET", "/api/conversations", alice.Token, nil, &convs)
	if len(convs) != 1 || convs[0]["peerReadUpTo"] != ack["messageId"] || convs[0]["peer"].(map[string]any)["online"] != true {
		t.Fatalf("alice's conversations = %v", convs)
	}

	// Bob's last connection closing is news to alice.
	b.conn.Close(1000, "")
	if p := a.expect("presence"); p["userId"] != bob.UserID || p["online"] != false || p["lastSeen"] == nil {
		t.Fatalf("presence when bob left = %v", p)
	}
	e.sync()
}

// testImageAvatar uploads an image avatar, serves it from its avatarUrl,
// and refuses one uploaded by someone else and one that is not an image.
func testImageAvatar(t *testing.T, s *stack) {
	alice, bob := s.register("alice"), s.register("bob")
	a, b := s.dial(t, alice.Token), s.dial(t, bob.Token)
	upload := func(who account, data []byte) string {
		var up struct {
			FileKey string
			Upload  struct {
				URL    string
				Fields map[string]string
			}
		}
		body := map[string]any{"purpose": "avatar", "fileName": "me.png", "fileType": "image/png", "size": len(data)}
		if st := s.call("POST", "/api/files", who.Token, body, &up); st != http.StatusOK {
			t.Fatalf("POST /api/files for an avatar: %d", st)
		}
		if err := filestest.Post(t.Context(), up.Upload.URL, up.Upload.Fields, "me.png", data); err != nil {
			t.Fatal(err)
		}
		return up.FileKey
	}
	bobs := upload(bob, filestest.PNG)
	if r := a.request(map[string]string{"action": "avatar-updated", "avatarFileKey": bobs}); r["code"] != "forbidden" {
		t.Fatalf("bob's upload as alice's avatar: %v", r)
	}
	if r := a.request(map[string]string{"action": "avatar-updated", "avatarFileKey": upload(alice, []byte("not an image"))}); r["code"] != "bad-request" {
		t.Fatalf("text as an avatar: %v", r)
	}
	if r := a.request(map[string]string{"action": "avatar-updated", "avatarFileKey": upload(alice, filestest.PNG)}); r["type"] != "ack" {
		t.Fatalf("avatar-updated: %v", r)
	}
	var users []map[string]any
	s.call("GET", "/api/users?prefix=alice", bob.Token, nil, &users)
	if len(users) != 1 || users[0]["avatarUrl"] == nil {
		t.Fatalf("alice in the user search: %v", users)
	}
	link := users[0]["avatarUrl"].(string)
	if !strings.HasPrefix(link, "/api/users/"+alice.UserID+"/avatar?v=") {
		t.Fatalf("avatarUrl %q", link)
	}
	got, _, err := filestest.Get(t.Context(), s.srv.URL+link)
	if err != nil || !bytes.Equal(got, filestest.PNG) {
		t.Fatalf("the avatar from its avatarUrl: %d bytes, %v", len(got), err)
	}
	b.sync()
}

// testGhostSeats fills a room with connections whose $disconnect never
// came (written to the store behind the gateway's back): the next join
// finds their sockets gone and takes a seat instead of being told full.
func testGhostSeats(t *testing.T, s *stack, store chat.Store) {
	ctx := context.Background()
	now := time.Now()
	for i := range chat.SeatCount {
		id := chat.Identity{UserID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i+1), Username: fmt.Sprintf("ghost%d", i)}
		if err := store.CreateUser(ctx, chat.User{UserID: id.UserID, Username: id.Username, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		c := chat.Connection{ConnID: fmt.Sprintf("ghost-conn-%d", i), UserID: id.UserID, Username: id.Username,
			ConnectedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
		if _, err := store.Connect(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, changed, err := store.JoinRoom(ctx, "haunted", id); err != nil || !changed {
			t.Fatalf("ghost %d joins: changed %v, %v", i, changed, err)
		}
	}
	alice := s.register("alice")
	a := s.dial(t, alice.Token)
	up := a.request(map[string]string{"action": "joinroom", "room": "haunted"})
	if up["type"] != "update" {
		t.Fatalf("join of a room of ghosts: %v", up)
	}
	seated := 0
	for _, seat := range up["seats"].([]any) {
		if seat.(map[string]any)["userId"] != nil {
			seated++
		}
	}
	if seated != 1 {
		t.Fatalf("%d seats taken after the ghosts were found gone, want alice's alone: %v", seated, up)
	}
	if n := a.expect("notice"); n["event"] != "join" || n["userId"] != alice.UserID {
		t.Fatalf("join notice = %v", n)
	}
	a.sync()
}

// openStore opens the store that opts name, for a test that writes behind
// the server's back; the server is given the same store.
func openStore(t *testing.T, opts *server.Options) chat.Store {
	t.Helper()
	switch opts.Settings.Store {
	case app.StoreDynamoDB:
		// The moto suite points the SDK at moto through the environment.
		db := dynamodb.NewFromConfig(moto.Config(os.Getenv("AWS_ENDPOINT_URL")))
		st := dynamostore.New(db, opts.Settings.Table)
		opts.Store, opts.Limiter = st, dynamostore.NewLimiter(db, opts.Settings.Table)
		return st
	default:
		b, err := boltstore.Open(filepath.Join(opts.Settings.DataDir, "minichat.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		opts.Store = b
		return b
	}
}
