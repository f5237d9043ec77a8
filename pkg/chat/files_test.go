package chat_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
)

// upload asks for an upload of declared bytes and type, then uploads data.
func (f *fixture) upload(from, to user, fileType string, declared int64, data []byte) string {
	f.t.Helper()
	req := chat.UploadRequest{FileName: "pic.png", FileType: fileType, Size: declared, To: to.UserID}
	if to.UserID == "" {
		req.Purpose = chat.PurposeAvatar
	}
	up, err := f.svc.RequestUpload(f.t.Context(), from.Identity, req)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := filestest.Post(f.t.Context(), up.Upload.URL, up.Upload.Fields, "pic.png", data); err != nil {
		f.t.Fatal(err)
	}
	return up.FileKey
}

func fileReq(key, to string) chat.FileSend {
	return chat.FileSend{ClientID: "f1", FileKey: key, To: to, FileName: "pic.png", FileType: "image/png", MessageType: "image"}
}

func TestFileMessageDelivered(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.register("alice"), f.register("bob")
	a1, b1 := f.connect(alice, "a1"), f.connect(bob, "b1")
	key := f.upload(alice, bob, "image/png", int64(len(filestest.PNG)), filestest.PNG)
	ack, err := f.svc.SendFile(ctx, a1, fileReq(key, bob.UserID), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := f.push.Take(b1.ConnID)
	if len(got) != 1 || got[0]["type"] != "private-file-message" || got[0]["messageId"] != ack.MessageID || got[0]["seq"] != 1.0 ||
		got[0]["fileName"] != "pic.png" || got[0]["fileType"] != "image/png" || got[0]["messageType"] != "image" ||
		got[0]["fileSize"] != float64(len(filestest.PNG)) {
		t.Fatalf("bob got %v", got)
	}
	body, _, err := filestest.Get(ctx, got[0]["fileUrl"].(string))
	if err != nil || !bytes.Equal(body, filestest.PNG) {
		t.Fatalf("download = %d bytes, %v", len(body), err)
	}
	// A resend of the same id is acknowledged again with the same message.
	again, err := f.svc.SendFile(ctx, a1, fileReq(key, bob.UserID), nil)
	if err != nil || again.MessageID != ack.MessageID {
		t.Fatalf("resend = %+v, %v", again, err)
	}
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("resend delivered again: %v", got)
	}
	// A sent upload cannot make a second message under another id.
	other := fileReq(key, bob.UserID)
	other.ClientID = "f2"
	_, err = f.svc.SendFile(ctx, a1, other, nil)
	wantCode(t, err, chat.ErrNotFound)
	// History signs a fresh link.
	page, err := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].FileURL == "" {
		t.Fatalf("history = %+v, %v", page, err)
	}
	// Deleting the message deletes the file.
	if err := f.svc.DeleteMessage(ctx, a1.Sender(), ack.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := filestest.Get(ctx, got[0]["fileUrl"].(string)); err == nil {
		t.Fatal("the file of a deleted message can still be downloaded")
	}
	again, err = f.svc.SendFile(ctx, a1, fileReq(key, bob.UserID), nil)
	if err != nil || again.MessageID != ack.MessageID {
		t.Fatalf("resend after delete = %+v, %v", again, err)
	}
}

func TestFileMessageRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, eve := f.register("alice"), f.register("bob"), f.register("eve")
	a1, b1 := f.connect(alice, "a1"), f.connect(bob, "b1")
	e1 := f.connect(eve, "e1")
	png := filestest.PNG
	for _, tc := range []struct {
		name    string
		sender  chat.Call
		key     func() string
		req     func(key string) chat.FileSend
		want    error
		deleted bool
	}{
		{"oversize: more bytes than declared", a1, func() string { return f.upload(alice, bob, "image/png", 10, png) },
			func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrBadRequest, true},
		{"wrong type: text declared as png", a1, func() string {
			return f.upload(alice, bob, "image/png", 11, []byte("hello world"))
		}, func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrBadRequest, true},
		{"missing object", a1, func() string {
			up, _ := f.svc.RequestUpload(ctx, alice.Identity, chat.UploadRequest{FileName: "x.png", FileType: "image/png", Size: 5, To: bob.UserID})
			return up.FileKey
		}, func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrNotFound, false},
		{"someone else's fileKey", e1, func() string { return f.upload(alice, bob, "image/png", int64(len(png)), png) },
			func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrForbidden, false},
		{"fileKey for another conversation", a1, func() string { return f.upload(alice, eve, "image/png", int64(len(png)), png) },
			func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrForbidden, false},
		{"path traversal in fileKey", a1, func() string { return "uploads/pending/../../etc/passwd" },
			func(k string) chat.FileSend { return fileReq(k, bob.UserID) }, chat.ErrBadRequest, false},
		{"declared type not allowed", a1, func() string { return f.upload(alice, bob, "image/png", int64(len(png)), png) },
			func(k string) chat.FileSend { r := fileReq(k, bob.UserID); r.FileType = "text/html"; return r }, chat.ErrBadRequest, false},
		{"messageType disagrees", a1, func() string { return f.upload(alice, bob, "image/png", int64(len(png)), png) },
			func(k string) chat.FileSend { r := fileReq(k, bob.UserID); r.MessageType = "file"; return r }, chat.ErrBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key()
			_, err := f.svc.SendFile(ctx, tc.sender, tc.req(key), nil)
			wantCode(t, err, tc.want)
			if got := f.push.Take(b1.ConnID); len(got) != 0 {
				t.Fatalf("refused file delivered: %v", got)
			}
			_, err = f.files.Inspect(ctx, key, 1)
			if gone := errors.Is(err, chat.ErrNotFound); tc.deleted && !gone {
				t.Fatalf("refused upload kept: %v", err)
			}
		})
	}
	page, _ := f.svc.History(ctx, bob.Identity, alice.UserID, chat.Page{})
	if len(page.Messages) != 0 {
		t.Fatalf("refused files stored: %+v", page.Messages)
	}
	for _, tc := range []struct {
		name string
		req  chat.UploadRequest
		want error
	}{
		{"too big", chat.UploadRequest{FileName: "a.png", FileType: "image/png", Size: 1025, To: bob.UserID}, chat.ErrBadRequest},
		{"empty", chat.UploadRequest{FileName: "a.png", FileType: "image/png", Size: 0, To: bob.UserID}, chat.ErrBadRequest},
		{"type", chat.UploadRequest{FileName: "a.svg", FileType: "image/svg+xml", Size: 10, To: bob.UserID}, chat.ErrBadRequest},
		{"name with path", chat.UploadRequest{FileName: "../a.png", FileType: "image/png", Size: 10, To: bob.UserID}, chat.ErrBadRequest},
		{"unknown peer", chat.UploadRequest{FileName: "a.png", FileType: "image/png", Size: 10, To: "01890000-0000-7000-8000-000000000000"}, chat.ErrNotFound},
	} {
		t.Run("upload "+tc.name, func(t *testing.T) {
			_, err := f.svc.RequestUpload(ctx, alice.Identity, tc.req)
			wantCode(t, err, tc.want)
		})
	}
}

func TestImageAvatar(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, eve := f.register("alice"), f.register("bob"), f.register("eve")
	a1, b1 := f.connect(alice, "a1"), f.connect(bob, "b1")
	f.sendPrivate(a1, bob, "hi", "")
	f.push.Take(b1.ConnID)
	key := f.upload(alice, user{}, "image/png", int64(len(filestest.PNG)), filestest.PNG)
	u, err := f.svc.SetAvatarImage(ctx, a1.Sender(), key)
	if err != nil || u.AvatarKey == "" || u.AvatarVersion == "" {
		t.Fatalf("SetAvatarImage = %+v, %v", u, err)
	}
	got := f.push.Take(b1.ConnID)
	if len(got) != 1 || got[0]["type"] != "avatar-updated" || got[0]["avatarUrl"] != "/api/users/"+alice.UserID+"/avatar?v="+u.AvatarVersion {
		t.Fatalf("bob got %v", got)
	}
	link, err := f.svc.AvatarLink(ctx, alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := filestest.Get(ctx, link)
	if err != nil || !bytes.Equal(body, filestest.PNG) {
		t.Fatalf("the avatar link serves %d bytes, %v", len(body), err)
	}
	_, err = f.svc.AvatarLink(ctx, bob.UserID)
	wantCode(t, err, chat.ErrNotFound)

	// Refusals: someone else's upload, not an image, too big, a file
	// message's key, an unknown key.
	f.advance(time.Minute)
	other := f.upload(eve, user{}, "image/png", int64(len(filestest.PNG)), filestest.PNG)
	_, err = f.svc.SetAvatarImage(ctx, a1.Sender(), other)
	wantCode(t, err, chat.ErrForbidden)
	fake := f.upload(alice, user{}, "image/png", 11, []byte("hello world"))
	_, err = f.svc.SetAvatarImage(ctx, a1.Sender(), fake)
	wantCode(t, err, chat.ErrBadRequest)
	fileKey := f.upload(alice, bob, "image/png", int64(len(filestest.PNG)), filestest.PNG)
	_, err = f.svc.SetAvatarImage(ctx, a1.Sender(), fileKey)
	wantCode(t, err, chat.ErrBadRequest)
	_, err = f.svc.SetAvatarImage(ctx, a1.Sender(), "uploads/avatars/"+alice.UserID+"/01890000-0000-7000-8000-000000000000")
	wantCode(t, err, chat.ErrNotFound)
	_, err = f.svc.RequestUpload(ctx, alice.Identity, chat.UploadRequest{Purpose: chat.PurposeAvatar, FileName: "a.pdf", FileType: "application/pdf", Size: 10})
	wantCode(t, err, chat.ErrBadRequest)
	_, err = f.svc.RequestUpload(ctx, alice.Identity, chat.UploadRequest{Purpose: chat.PurposeAvatar, FileName: "a.png", FileType: "image/png", Size: chat.MaxAvatarSize + 1})
	wantCode(t, err, chat.ErrBadRequest)
	_, err = f.svc.RequestUpload(ctx, alice.Identity, chat.UploadRequest{Purpose: "wallpaper", FileName: "a.png", FileType: "image/png", Size: 10})
	wantCode(t, err, chat.ErrBadRequest)
	if got := f.push.Take(b1.ConnID); len(got) != 0 {
		t.Fatalf("refused avatars were announced: %v", got)
	}
}
