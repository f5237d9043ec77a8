package chat

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of FilePolicy.
const (
	DefaultMaxFileSize = 10 << 20
	DefaultUploadTTL   = 5 * time.Minute
	DefaultDownloadTTL = 15 * time.Minute
	// sniffBytes is how much of an object is read to check what it really is.
	sniffBytes = 512
	// metaDeclaredSize is the user metadata the upload policy pins, so the
	// size a client declared can be checked where the policy is not
	// enforced (the embedded S3 enforces no policy).
	metaDeclaredSize = "declared-size"
	pendingPrefix    = "uploads/pending/"
	filesPrefix      = "files/"
	avatarUpPrefix   = "uploads/avatars/"
	avatarsPrefix    = "avatars/"
	// MaxAvatarSize is the largest image avatar.
	MaxAvatarSize = 1 << 20
	// avatarLinkTTL is how long the link an avatar URL redirects to works.
	avatarLinkTTL = 10 * time.Minute
)

// AvatarTypes are the content types an image avatar may have.
var AvatarTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// DefaultFileTypes are the content types that may be sent.
var DefaultFileTypes = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp",
	"application/pdf", "text/plain", "application/zip",
}

// FilePolicy says which files may be sent.
type FilePolicy struct {
	MaxSize     int64
	Types       []string
	UploadTTL   time.Duration
	DownloadTTL time.Duration
}

func (p FilePolicy) withDefaults() FilePolicy {
	if p.MaxSize <= 0 {
		p.MaxSize = DefaultMaxFileSize
	}
	if len(p.Types) == 0 {
		p.Types = DefaultFileTypes
	}
	if p.UploadTTL <= 0 {
		p.UploadTTL = DefaultUploadTTL
	}
	if p.DownloadTTL <= 0 {
		p.DownloadTTL = DefaultDownloadTTL
	}
	return p
}

func (p FilePolicy) allows(contentType string) bool {
	for _, t := range p.Types {
		if t == contentType {
			return true
		}
	}
	return false
}

// messageTypeOf is "image" for images and "file" for everything else.
func messageTypeOf(contentType string) string {
	if strings.HasPrefix(contentType, "image/") {
		return "image"
	}
	return "file"
}

func validFileName(s string) error {
	if !utf8.ValidString(s) || s == "" || utf8.RuneCountInString(s) > 255 || strings.ContainsAny(s, "/\\") {
		return badInput("fileName", "1 to 255 characters, no path separators")
	}
	return validText("fileName", s, 255)
}

// pendingKey is where id uploads a file for peer: namespaced by sender and
// conversation, never chosen by the client.
func pendingKey(sender, peer, object string) string {
	return pendingPrefix + sender + "/" + peer + "/" + object
}

// parsePendingKey splits a fileKey made by pendingKey.
func parsePendingKey(key string) (sender, peer, object string, err error) {
	rest, ok := strings.CutPrefix(key, pendingPrefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || ValidID("fileKey", parts[0]) != nil || ValidID("fileKey", parts[1]) != nil || ValidID("fileKey", parts[2]) != nil {
		return "", "", "", badInput("fileKey", "use the fileKey POST /api/files returned")
	}
	return parts[0], parts[1], parts[2], nil
}

// Upload purposes.
const (
	PurposeFile   = "file"
	PurposeAvatar = "avatar"
)

// UploadRequest asks where to upload a file: for a file message to To, or
// (Purpose avatar) for the sender's image avatar.
type UploadRequest struct {
	Purpose  string
	FileName string
	FileType string
	Size     int64
	To       string
}

// PendingUpload is where and how to upload, and the key to name the upload
// by afterwards.
type PendingUpload struct {
	FileKey string
	Upload  Upload
	MaxSize int64
}

// RequestUpload answers POST /api/files: a presigned upload of exactly the
// declared size and type, to a key namespaced by sender and recipient (or
// by sender alone for an avatar).
func (s *Service) RequestUpload(ctx context.Context, id Identity, req UploadRequest) (PendingUpload, error) {
	if err := need(s.files.store); err != nil {
		return PendingUpload{}, err
	}
	if err := validFileName(req.FileName); err != nil {
		return PendingUpload{}, err
	}
	types, maxSize := s.files.policy.Types, s.files.policy.MaxSize
	switch req.Purpose {
	case "", PurposeFile:
	case PurposeAvatar:
		types, maxSize = AvatarTypes, min(maxSize, MaxAvatarSize)
		if req.To != "" {
			return PendingUpload{}, badInput("to", "an avatar is uploaded for no one")
		}
	default:
		return PendingUpload{}, badInput("purpose", `"file" or "avatar"`)
	}
	if !slices.Contains(types, req.FileType) {
		return PendingUpload{}, badInput("fileType", "one of "+strings.Join(types, ", "))
	}
	if req.Size < 1 || req.Size > maxSize {
		return PendingUpload{}, badInput("size", "1 to "+strconv.FormatInt(maxSize, 10)+" bytes")
	}
	var key string
	if req.Purpose == PurposeAvatar {
		key = avatarUpPrefix + id.UserID + "/" + s.newID()
	} else {
		if err := s.checkPeer(ctx, id, req.To); err != nil {
			return PendingUpload{}, err
		}
		key = pendingKey(id.UserID, req.To, s.newID())
	}
	meta := map[string]string{metaDeclaredSize: strconv.FormatInt(req.Size, 10)}
	up, err := s.files.store.PresignUpload(ctx, key, req.FileType, req.FileName, req.Size, meta, s.files.policy.UploadTTL)
	if err != nil {
		return PendingUpload{}, fmt.Errorf("upload: %w", err)
	}
	return PendingUpload{FileKey: key, Upload: up, MaxSize: maxSize}, nil
}

// checkPeer refuses peers that cannot be written to.
func (s *Service) checkPeer(ctx context.Context, id Identity, peer string) error {
	if err := ValidID("to", peer); err != nil {
		return err
	}
	if peer == id.UserID {
		return badInput("to", "cannot message yourself")
	}
	peers, err := s.store.Peers(ctx, []string{peer})
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	if _, ok := peers[peer]; !ok {
		return refuse(ErrNotFound, "no such user")
	}
	return nil
}

// FileSend announces an uploaded file to To.
type FileSend struct {
	To, FileKey, FileName, FileType, MessageType, ClientID string
	// LastSeq is the client's hint of the conversation's end, as for
	// PrivateSend.
	LastSeq *int64
}

// SendFile announces an uploaded file. The object must be the sender's
// upload for this recipient, and its real size and content must be what
// was declared and allowed; otherwise it is refused and deleted.
func (s *Service) SendFile(ctx context.Context, call Call, in FileSend, acked Acked) (Message, error) {
	if err := need(s.files.store); err != nil {
		return Message{}, err
	}
	if err := ValidClientID(in.ClientID); err != nil {
		return Message{}, err
	}
	if err := ValidID("to", in.To); err != nil {
		return Message{}, err
	}
	if err := validLastSeq(in.LastSeq); err != nil {
		return Message{}, err
	}
	pc, err := s.privateContext(ctx, call.Sender(), in.To, hint(in.LastSeq))
	if err != nil {
		return Message{}, err
	}
	sender, peer, object, err := parsePendingKey(in.FileKey)
	if err != nil {
		return Message{}, err
	}
	if err := validFileName(in.FileName); err != nil {
		return Message{}, err
	}
	if !s.files.policy.allows(in.FileType) {
		return Message{}, badInput("fileType", "one of "+strings.Join(s.files.policy.Types, ", "))
	}
	if in.MessageType != messageTypeOf(in.FileType) {
		return Message{}, badInput("messageType", `"image" for images, "file" otherwise`)
	}
	if sender != pc.sender.UserID || peer != in.To {
		return Message{}, refuse(ErrForbidden, "that file was not uploaded by you for this conversation")
	}
	info, err := s.files.store.Inspect(ctx, in.FileKey, sniffBytes)
	if errors.Is(err, ErrNotFound) {
		// A resend of a file message names an upload that was moved when
		// it was first sent: the send below answers it as a resend, or
		// refuses it if it was never sent.
		m := Message{Kind: KindPrivateFile, To: in.To, ClientID: in.ClientID, File: &FileRef{Key: in.FileKey}}
		notFound := func(context.Context) error { return refuse(ErrNotFound, "no uploaded file under that fileKey") }
		stored, err := s.storeAndDeliver(ctx, call.Sender(), m, pc, nil, notFound)
		if err == nil && (stored.Kind != KindPrivateFile || stored.To != in.To) {
			err = notFound(ctx)
		}
		if err == nil && acked != nil {
			acked(receipt(stored))
		}
		return stored, err
	}
	if err != nil {
		return Message{}, fmt.Errorf("inspect upload: %w", err)
	}
	if reason := s.mismatch(info, in.FileType, s.files.policy.MaxSize); reason != "" {
		if err := s.files.store.Delete(ctx, in.FileKey); err != nil {
			s.log.WarnContext(ctx, "delete refused upload", "err", err)
		}
		return Message{}, badInput("fileKey", reason)
	}
	final := filesPrefix + sender + "/" + peer + "/" + object
	if err := s.files.store.Copy(ctx, in.FileKey, final); err != nil {
		return Message{}, fmt.Errorf("keep upload: %w", err)
	}
	ref := &FileRef{Key: final, Name: in.FileName, Type: in.FileType, Size: info.Size, MessageType: in.MessageType}
	m, err := s.storeAndDeliver(ctx, call.Sender(), Message{Kind: KindPrivateFile, To: in.To, File: ref, ClientID: in.ClientID}, pc, acked, nil)
	if err != nil {
		return Message{}, err
	}
	if err := s.files.store.Delete(ctx, in.FileKey); err != nil {
		s.log.WarnContext(ctx, "remove sent upload", "err", err)
	}
	return m, nil
}

// mismatch says why an object is not what was declared, or "".
func (s *Service) mismatch(info FileInfo, declaredType string, maxSize int64) string {
	declared, _ := strconv.ParseInt(metadata(info.Metadata, metaDeclaredSize), 10, 64)
	switch {
	case info.Size < 1 || info.Size > maxSize:
		return "the uploaded file is empty or over the size limit"
	case info.Size != declared:
		return "the uploaded file's size is not the declared size"
	}
	stored, _, _ := mime.ParseMediaType(info.ContentType)
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(info.Head))
	if stored != declaredType || sniffed != declaredType {
		return "the uploaded file's content is not of the declared type"
	}
	return ""
}

func metadata(m map[string]string, key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// SetAvatarImage makes an uploaded image (POST /api/files with purpose
// avatar) the sender's avatar. The upload is checked as a file message's
// is: it must be the sender's, an image of at most MaxAvatarSize bytes,
// really of the type it was declared.
func (s *Service) SetAvatarImage(ctx context.Context, from Sender, fileKey string) (User, error) {
	if err := need(s.files.store); err != nil {
		return User{}, err
	}
	rest, ok := strings.CutPrefix(fileKey, avatarUpPrefix)
	owner, object, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || ValidID("avatarFileKey", owner) != nil || ValidID("avatarFileKey", object) != nil {
		return User{}, badInput("avatarFileKey", "use the fileKey POST /api/files returned for purpose avatar")
	}
	var old string
	u, err := s.changeAvatar(ctx, from, func(id Identity) (string, string, string, error) {
		if owner != id.UserID {
			return "", "", "", refuse(ErrForbidden, "that image was not uploaded by you")
		}
		info, err := s.files.store.Inspect(ctx, fileKey, sniffBytes)
		if errors.Is(err, ErrNotFound) {
			return "", "", "", refuse(ErrNotFound, "no uploaded image under that avatarFileKey")
		}
		if err != nil {
			return "", "", "", fmt.Errorf("inspect avatar: %w", err)
		}
		stored, _, _ := mime.ParseMediaType(info.ContentType)
		if !slices.Contains(AvatarTypes, stored) {
			return "", "", "", badInput("avatarFileKey", "an avatar is a PNG, JPEG, GIF or WebP image")
		}
		if reason := s.mismatch(info, stored, MaxAvatarSize); reason != "" {
			if err := s.files.store.Delete(ctx, fileKey); err != nil {
				s.log.WarnContext(ctx, "delete refused avatar", "err", err)
			}
			return "", "", "", badInput("avatarFileKey", reason)
		}
		peers, err := s.store.Peers(ctx, []string{id.UserID})
		if err != nil {
			return "", "", "", fmt.Errorf("avatar: %w", err)
		}
		cur := peers[id.UserID]
		old = cur.AvatarKey
		version := s.newID()
		key := avatarsPrefix + id.UserID + "/" + version
		if err := s.files.store.Copy(ctx, fileKey, key); err != nil {
			return "", "", "", fmt.Errorf("keep avatar: %w", err)
		}
		return cur.Avatar, key, version, nil
	})
	if err != nil {
		return User{}, err
	}
	for _, k := range []string{fileKey, old} {
		if k != "" {
			if err := s.files.store.Delete(ctx, k); err != nil {
				s.log.WarnContext(ctx, "remove replaced avatar", "err", err)
			}
		}
	}
	return u, nil
}

// AvatarLink returns a short-lived link to a user's image avatar;
// ErrNotFound when they have none. It needs no identity: avatars are
// public, like profile pictures.
func (s *Service) AvatarLink(ctx context.Context, userID string) (string, error) {
	if err := ValidID("userId", userID); err != nil {
		return "", err
	}
	if err := need(s.files.store); err != nil {
		return "", err
	}
	peers, err := s.store.Peers(ctx, []string{userID})
	if err != nil {
		return "", fmt.Errorf("avatar: %w", err)
	}
	u, ok := peers[userID]
	if !ok || u.AvatarKey == "" {
		return "", refuse(ErrNotFound, "no image avatar")
	}
	url, err := s.files.store.PresignDownload(ctx, u.AvatarKey, "avatar", avatarLinkTTL)
	if err != nil {
		return "", fmt.Errorf("avatar: %w", err)
	}
	return url, nil
}

// view returns m as shown, with a freshly signed link for a file.
func (s *Service) view(ctx context.Context, m Message) MessageView {
	v := MessageView{Message: m}
	if m.File != nil && !m.Deleted && s.files.store != nil {
		url, err := s.files.store.PresignDownload(ctx, m.File.Key, m.File.Name, s.files.policy.DownloadTTL)
		if err != nil {
			s.log.WarnContext(ctx, "sign download link", "err", err)
		}
		v.FileURL = url
	}
	return v
}
