package docs

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
)

// uploadWant is what an answer of POST /api/files must say, as
// protocol.md promises it.
type uploadWant struct {
	keyPrefix, fileType, fileName string
	declared                      int
	maxSize                       float64
}

// requestUpload asks for an upload with body, checks the answer against
// want, and posts data (unless nil) as the answer says. It returns the
// fileKey.
func (h *harness) requestUpload(from user, body string, want uploadWant, data []byte) string {
	t := h.t
	t.Helper()
	before := time.Now()
	st, answer := h.call("POST", "/api/files", from.token, body)
	up := h.wantStatus("upload", st, answer, 200)
	after := time.Now()
	key := fmt.Sprint(up["fileKey"])
	u, _ := up["upload"].(map[string]any)
	fields := map[string]string{}
	if raw, ok := u["fields"].(map[string]any); ok {
		for k, v := range raw {
			fields[k] = fmt.Sprint(v)
		}
	}
	if !strings.HasPrefix(key, want.keyPrefix) {
		t.Errorf("fileKey %q, want it under %s", key, want.keyPrefix)
	}
	if u["url"] != h.s3URL+"/"+testBucket {
		t.Errorf("upload url %v, want the bucket's URL %s/%s", u["url"], h.s3URL, testBucket)
	}
	for name, v := range map[string]string{
		"key": key, "Content-Type": want.fileType, "Content-Disposition": "attachment; filename=" + want.fileName,
		"X-Amz-Meta-Declared-Size": strconv.Itoa(want.declared),
	} {
		if fields[name] != v {
			t.Errorf("upload field %s = %q, want %q", name, fields[name], v)
		}
	}
	if up["maxSize"] != want.maxSize {
		t.Errorf("maxSize = %v, want %v", up["maxSize"], want.maxSize)
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(up["expiresAt"]))
	if err != nil || exp.Before(before.Add(5*time.Minute).Truncate(time.Millisecond)) || exp.After(after.Add(5*time.Minute)) {
		t.Errorf("expiresAt %v is not 5 minutes after the request (%v)", up["expiresAt"], err)
	}
	if data != nil {
		if err := filestest.Post(t.Context(), fmt.Sprint(u["url"]), fields, want.fileName, data); err != nil {
			t.Fatal(err)
		}
	}
	h.uploads.take()
	return key
}

// files drives protocol.md's Files section: POST /api/files, the upload,
// private-file-message with each of its refusals, links in pushes and
// history, and deletion. alice's connections A1..A3 are open, bob's are not.
func (s *scenario) files() {
	h, t := s.harness, s.t
	alice, bob, carol := s.alice, s.bob, s.carol
	ctx := t.Context()
	for conn, token := range map[string]string{"B2": bob.token, "C1": carol.token, "X3": ""} {
		query := map[string]string{"token": token}
		if token == "" {
			query = nil
		}
		if st, _ := h.connect(conn, query, nil); st != 200 {
			t.Fatalf("connect %s: %d", conn, st)
		}
	}
	uploadBody := func(name, typ string, size int, to string) string {
		return frame(`{"fileName":%q,"fileType":%q,"size":%d,"to":%q}`, name, typ, size, to)
	}
	for _, c := range []struct {
		step, token, body string
		want              int
	}{
		{"upload of a type not allowed", alice.token, uploadBody("a.svg", "image/svg+xml", 10, bob.id), 400},
		{"empty upload", alice.token, uploadBody("a.png", "image/png", 0, bob.id), 400},
		{"upload over 10 MiB", alice.token, uploadBody("a.png", "image/png", 10<<20+1, bob.id), 400},
		{"upload named with a path", alice.token, uploadBody("../a.png", "image/png", 10, bob.id), 400},
		{"upload named with 256 characters", alice.token, uploadBody(strings.Repeat("a", 252)+".png", "image/png", 10, bob.id), 400},
		{"upload to yourself", alice.token, uploadBody("a.png", "image/png", 10, alice.id), 400},
		{"upload to nobody", alice.token, uploadBody("a.png", "image/png", 10, nobody), 404},
		{"upload without a token", "", uploadBody("a.png", "image/png", 10, bob.id), 401},
		{"upload of exactly 10 MiB", alice.token, uploadBody("big.zip", "application/zip", 10<<20, bob.id), 200},
	} {
		st, body := h.call("POST", "/api/files", c.token, c.body)
		h.wantStatus(c.step, st, body, c.want)
	}

	upload := func(from, to user, typ string, declared int, data []byte) string {
		t.Helper()
		return h.requestUpload(from, uploadBody("pic.png", typ, declared, to.id), uploadWant{
			keyPrefix: "uploads/pending/" + from.id + "/" + to.id + "/", fileType: typ, fileName: "pic.png",
			declared: declared, maxSize: float64(chat.DefaultMaxFileSize),
		}, data)
	}
	send := func(conn, id, to, key, typ, messageType string, want map[string][]string) map[string][]map[string]any {
		t.Helper()
		return h.send(conn, frame(`{"action":"private-file-message","id":%q,"to":%q,"fileKey":%q,"fileName":"pic.png","fileType":%q,"messageType":%q}`,
			id, to, key, typ, messageType), want)
	}
	refused := func(step, conn, to, key, typ, messageType, code string) {
		t.Helper()
		got := send(conn, "f0", to, key, typ, messageType, map[string][]string{conn: {"error"}})
		h.wantCode(step, got[conn][0], code)
	}

	// The refusals, in the order protocol.md gives; none stores or pushes anything.
	png := filestest.PNG
	key := upload(alice, bob, "image/png", len(png), png)
	refused("anonymous", "X3", bob.id, key, "image/png", "image", "unauthorized")
	refused("fileKey not of the form", "A1", bob.id, "uploads/pending/../../etc/passwd", "image/png", "image", "bad-request")
	refused("type not allowed", "A1", bob.id, key, "text/html", "file", "bad-request")
	refused("messageType disagrees", "A1", bob.id, key, "image/png", "file", "bad-request")
	refused("someone else's fileKey", "C1", bob.id, key, "image/png", "image", "forbidden")
	refused("fileKey for another recipient", "A1", carol.id, key, "image/png", "image", "forbidden")
	refused("nothing uploaded", "A1", bob.id, upload(alice, bob, "image/png", len(png), nil), "image/png", "image", "not-found")
	for step, k := range map[string]string{
		"content not of the declared type": upload(alice, bob, "image/png", 11, []byte("hello world")),
		"size not the declared size":       upload(alice, bob, "image/png", len(png)+5, png),
	} {
		refused(step, "A1", bob.id, k, "image/png", "image", "bad-request")
		refused(step+", sent again: the upload was deleted", "A1", bob.id, k, "image/png", "image", "not-found")
	}

	// Delivered, with a link that downloads the file as fileName.
	got := send("A1", "f1", bob.id, key, "image/png", "image",
		map[string][]string{"A1": {"ack"}, "A2": {"private-file-message"}, "A3": {"private-file-message"}, "B2": {"private-file-message"}})
	ack, m := got["A1"][0], got["B2"][0]
	for field, want := range map[string]any{
		"messageId": ack["messageId"], "at": ack["at"], "from": alice.id, "fromName": "alice", "to": bob.id,
		"fileName": "pic.png", "fileType": "image/png", "messageType": "image", "fileSize": float64(len(png)),
	} {
		if m[field] != want {
			t.Errorf("private-file-message %s = %v, want %v", field, m[field], want)
		}
	}
	if ack["id"] != "f1" {
		t.Errorf("ack = %v, want the request's id", ack)
	}
	link := fmt.Sprint(m["fileUrl"])
	if prefix := h.s3URL + "/" + testBucket + "/files/" + alice.id + "/" + bob.id + "/"; !strings.HasPrefix(link, prefix) {
		t.Errorf("fileUrl %s, want it under %s", link, prefix)
	}
	h.wantDownload("fileUrl", link, "pic.png", png)
	got = send("A1", "f1", bob.id, key, "image/png", "image", map[string][]string{"A1": {"ack"}})
	if got["A1"][0]["messageId"] != ack["messageId"] {
		t.Errorf("a resend got %v, want %v", got["A1"][0], ack)
	}

	// History and conversations sign fresh links.
	st, body := h.call("GET", "/api/conversations/"+alice.id+"/messages?limit=1", bob.token, "")
	item := h.wantStatus("history with a file", st, body, 200)["messages"].([]any)[0].(map[string]any)
	if item["type"] != "private-file-message" || item["messageId"] != ack["messageId"] {
		t.Fatalf("newest history item = %v, want the file message", item)
	}
	h.wantDownload("history fileUrl", fmt.Sprint(item["fileUrl"]), "pic.png", png)
	st, body = h.call("GET", "/api/conversations", bob.token, "")
	h.wantStatus("conversations with a file", st, body, 200)
	for _, c := range body.([]any) {
		conv := c.(map[string]any)
		if conv["peer"].(map[string]any)["userId"] != alice.id {
			continue
		}
		last, _ := conv["lastMessage"].(map[string]any)
		if last["messageId"] != ack["messageId"] {
			t.Fatalf("lastMessage = %v, want the file message", last)
		}
		h.wantDownload("lastMessage fileUrl", fmt.Sprint(last["fileUrl"]), "pic.png", png)
	}

	// Only the sender deletes, and the file goes with the message.
	del := frame(`{"action":"message-deleted","id":"d2","messageId":%q}`, ack["messageId"])
	for conn, code := range map[string]string{"B2": "forbidden", "C1": "not-found"} {
		got = h.send(conn, del, map[string][]string{conn: {"error"}})
		h.wantCode(conn+" deletes alice's file message", got[conn][0], code)
	}
	h.send("A1", del, map[string][]string{"A1": {"ack"}, "A2": {"message-deleted"}, "A3": {"message-deleted"}, "B2": {"message-deleted"}})
	for _, l := range []string{link, fmt.Sprint(item["fileUrl"])} {
		if _, _, err := filestest.Get(ctx, l); err == nil || !strings.Contains(err.Error(), "status 404") {
			t.Errorf("a link of a deleted file message: %v, want 404", err)
		}
	}
	st, body = h.call("GET", "/api/conversations/"+alice.id+"/messages?limit=1", bob.token, "")
	if item := h.wantStatus("history after the delete", st, body, 200)["messages"].([]any)[0].(map[string]any); item["deleted"] != true {
		t.Errorf("the deleted file message in history = %v", item)
	}
}

// wantDownload fails unless link downloads data as an attachment named name.
func (h *harness) wantDownload(step, link, name string, data []byte) {
	h.t.Helper()
	got, disposition, err := filestest.Get(h.t.Context(), link)
	if err != nil || !bytes.Equal(got, data) {
		h.t.Errorf("%s: downloaded %d bytes (%v), want the %d uploaded", step, len(got), err, len(data))
	}
	if disposition != "attachment; filename="+name {
		h.t.Errorf("%s: Content-Disposition %q, want the file saved as %s", step, disposition, name)
	}
}

// imageAvatars drives protocol.md's image avatars: the upload with
// purpose avatar, avatar-updated with avatarFileKey and its refusals,
// avatarUrl wherever alice is shown, and the redirect it answers. alice
// (A1..A3) sits in room tiny; bob (B2) is her one conversation peer.
func (s *scenario) imageAvatars() {
	h, t := s.harness, s.t
	alice := s.alice
	avatarBody := func(typ string, size int, extra string) string {
		return frame(`{"purpose":"avatar","fileName":"me.png","fileType":%q,"size":%d%s}`, typ, size, extra)
	}
	for _, c := range []struct {
		step, token, body string
		want              int
	}{
		{"avatar for someone", alice.token, avatarBody("image/png", 10, frame(`,"to":%q`, s.bob.id)), 400},
		{"avatar not an image", alice.token, avatarBody("application/pdf", 10, ""), 400},
		{"avatar over 1 MiB", alice.token, avatarBody("image/png", 1<<20+1, ""), 400},
		{"upload for another purpose", alice.token, `{"purpose":"banner","fileName":"me.png","fileType":"image/png","size":10}`, 400},
		{"avatar without a token", "", avatarBody("image/png", 10, ""), 401},
	} {
		st, body := s.call("POST", "/api/files", c.token, c.body)
		s.wantStatus(c.step, st, body, c.want)
	}
	upload := func(data []byte) string {
		t.Helper()
		return h.requestUpload(alice, avatarBody("image/png", len(filestest.PNG), ""), uploadWant{
			keyPrefix: "uploads/avatars/" + alice.id + "/", fileType: "image/png", fileName: "me.png",
			declared: len(filestest.PNG), maxSize: float64(chat.MaxAvatarSize),
		}, data)
	}
	key := upload(filestest.PNG)
	set := func(key string) string {
		return frame(`{"action":"avatar-updated","id":"a2","avatarFileKey":%q}`, key)
	}
	for _, c := range []struct{ step, conn, key, code string }{
		{"avatarFileKey not of the form", "A1", "uploads/pending/" + alice.id + "/x", "bad-request"},
		{"someone else's avatar upload", "C1", key, "forbidden"},
		{"nothing uploaded", "A1", upload(nil), "not-found"},
	} {
		got := s.send(c.conn, set(c.key), map[string][]string{c.conn: {"error"}})
		s.wantCode(c.step, got[c.conn][0], c.code)
	}

	// Her other connections, her peer and her room mates are told.
	got := s.send("A1", set(key), map[string][]string{"A1": {"ack"}, "A2": {"avatar-updated"}, "A3": {"avatar-updated"}, "B2": {"avatar-updated"}})
	f := got["B2"][0]
	link, _ := f["avatarUrl"].(string)
	if u, err := url.Parse(link); err != nil || u.Path != "/api/users/"+alice.id+"/avatar" || u.Query().Get("v") == "" || f["avatar"] != "🦀" {
		t.Fatalf("avatar-updated = %v, want avatarUrl /api/users/<alice>/avatar?v=... and the text avatar kept", f)
	}
	shown := map[string]any{}
	st, body := s.call("GET", "/api/users?prefix=alice", s.bob.token, "")
	s.wantStatus("users", st, body, 200)
	shown["GET /api/users"] = body.([]any)[0].(map[string]any)["avatarUrl"]
	st, body = s.call("GET", "/api/rooms/tiny", s.bob.token, "")
	shown["seat"] = s.wantStatus("room", st, body, 200)["seats"].([]any)[0].(map[string]any)["avatarUrl"]
	shown["peer"] = s.conversationWith(s.bob, alice)["peer"].(map[string]any)["avatarUrl"]
	for where, v := range shown {
		if v != link {
			t.Errorf("%s shows avatarUrl %v, want %s", where, v, link)
		}
	}

	// The link needs no token and redirects to the image.
	a := s.request("GET", link, "", "")
	s.wantStatus("avatar", a.status, a.body, 302)
	h.wantDownload("avatar", a.headers["Location"], "avatar", filestest.PNG)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/users/" + s.bob.id + "/avatar", 404},
		{"/api/users/" + nobody + "/avatar", 404},
		{"/api/users/me/avatar", 400},
	} {
		st, body := s.call("GET", c.path, "", "")
		s.wantStatus("GET "+c.path, st, body, c.want)
	}

	// A new image is a new link.
	got = s.send("A1", set(upload(filestest.PNG)), map[string][]string{"A1": {"ack"}, "A2": {"avatar-updated"}, "A3": {"avatar-updated"}, "B2": {"avatar-updated"}})
	if next := got["B2"][0]["avatarUrl"]; next == link || next == nil {
		t.Errorf("a new image avatar: avatarUrl %v, want another than %s", next, link)
	}
}
