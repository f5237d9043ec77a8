package chat

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minichatbar/minichat/pkg/protocol"
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
)

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

// RequestUpload answers POST /api/files: a presigned upload of exactly the
// declared size and type, to a key namespaced by sender and recipient.
func (s *Service) RequestUpload(ctx context.Context, id Identity, req protocol.FileUploadRequest) (protocol.FileUpload, error) {
	if err := validFileName(req.FileName); err != nil {
		return protocol.FileUpload{}, err
	}
	if !s.files.policy.allows(req.FileType) {
		return protocol.FileUpload{}, badInput("fileType", "one of "+strings.Join(s.files.policy.Types, ", "))
	}
	if req.Size < 1 || req.Size > s.files.policy.MaxSize {
		return protocol.FileUpload{}, badInput("size", "1 to "+strconv.FormatInt(s.files.policy.MaxSize, 10)+" bytes")
	}
	if err := s.checkPeer(ctx, id, req.To); err != nil {
		return protocol.FileUpload{}, err
	}
	key := pendingKey(id.UserID, req.To, s.newID())
	meta := map[string]string{metaDeclaredSize: strconv.FormatInt(req.Size, 10)}
	up, err := s.files.store.PresignUpload(ctx, key, req.FileType, req.FileName, req.Size, meta, s.files.policy.UploadTTL)
	if err != nil {
		return protocol.FileUpload{}, fmt.Errorf("upload: %w", err)
	}
	return protocol.FileUpload{
		FileKey:   key,
		Upload:    protocol.PresignedUpload{Method: up.Method, URL: up.URL, Fields: up.Fields, Headers: up.Headers},
		ExpiresAt: FormatTime(up.ExpiresAt),
		MaxSize:   s.files.policy.MaxSize,
	}, nil
}

// checkPeer refuses peers that cannot be written to.
func (s *Service) checkPeer(ctx context.Context, id Identity, peer string) error {
	if err := ValidID("to", peer); err != nil {
		return err
	}
	if peer == id.UserID {
		return badInput("to", "cannot message yourself")
	}
	if _, err := s.store.UserByID(ctx, peer); err != nil {
		if errors.Is(err, ErrNotFound) {
			return refuse(ErrNotFound, "no such user")
		}
		return fmt.Errorf("peer: %w", err)
	}
	return nil
}

// PrivateFileMessage announces an uploaded file. The object must be the
// sender's upload for this recipient, and its real size and content must
// be what was declared and allowed; otherwise it is refused and deleted.
func (s *Service) PrivateFileMessage(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	ref, sent, err := s.verifyUpload(ctx, id, req)
	if err != nil {
		return nil, err
	}
	if sent != nil {
		return []any{ack(req.ID, *sent)}, nil
	}
	m, err := s.storeAndDeliver(ctx, id, call.ConnID, Message{Kind: KindPrivateFile, To: req.To, File: ref}, req.ID)
	if err != nil {
		return nil, err
	}
	if err := s.files.store.Delete(ctx, req.FileKey); err != nil {
		s.log.WarnContext(ctx, "remove sent upload", "err", err)
	}
	return []any{ack(req.ID, m)}, nil
}

// verifyUpload checks the upload named by req and copies it to where sent
// files live. An upload is sent once: afterwards only a resend of the same
// id names it again, and gets the message it made (sent).
func (s *Service) verifyUpload(ctx context.Context, id Identity, req protocol.Request) (ref *FileRef, sent *Message, err error) {
	if err := ValidID("to", req.To); err != nil {
		return nil, nil, err
	}
	sender, peer, object, err := parsePendingKey(req.FileKey)
	if err != nil {
		return nil, nil, err
	}
	if err := validFileName(req.FileName); err != nil {
		return nil, nil, err
	}
	if !s.files.policy.allows(req.FileType) {
		return nil, nil, badInput("fileType", "one of "+strings.Join(s.files.policy.Types, ", "))
	}
	if req.MessageType != messageTypeOf(req.FileType) {
		return nil, nil, badInput("messageType", `"image" for images, "file" otherwise`)
	}
	if sender != id.UserID || peer != req.To {
		return nil, nil, refuse(ErrForbidden, "that file was not uploaded by you for this conversation")
	}
	info, err := s.files.store.Inspect(ctx, req.FileKey, sniffBytes)
	if errors.Is(err, ErrNotFound) {
		if m, ok := s.sentBefore(ctx, id, req); ok {
			return nil, &m, nil
		}
		return nil, nil, refuse(ErrNotFound, "no uploaded file under that fileKey")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("inspect upload: %w", err)
	}
	if reason := s.mismatch(info, req.FileType); reason != "" {
		if err := s.files.store.Delete(ctx, req.FileKey); err != nil {
			s.log.WarnContext(ctx, "delete refused upload", "err", err)
		}
		return nil, nil, badInput("fileKey", reason)
	}
	final := filesPrefix + sender + "/" + peer + "/" + object
	if err := s.files.store.Copy(ctx, req.FileKey, final); err != nil {
		return nil, nil, fmt.Errorf("keep upload: %w", err)
	}
	return &FileRef{Key: final, Name: req.FileName, Type: req.FileType, Size: info.Size, MessageType: req.MessageType}, nil, nil
}

// sentBefore finds the file message req's id made, when req resends it.
func (s *Service) sentBefore(ctx context.Context, id Identity, req protocol.Request) (Message, bool) {
	if req.ID == "" {
		return Message{}, false
	}
	m, err := s.store.IdempotentMessage(ctx, idemKey(id.UserID, req.ID))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.WarnContext(ctx, "look up resend", "err", err)
		}
		return Message{}, false
	}
	return m, m.Kind == KindPrivateFile && m.To == req.To
}

// mismatch says why an object is not what was declared, or "".
func (s *Service) mismatch(info FileInfo, declaredType string) string {
	declared, _ := strconv.ParseInt(metadata(info.Metadata, metaDeclaredSize), 10, 64)
	switch {
	case info.Size < 1 || info.Size > s.files.policy.MaxSize:
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

// render returns the frame of m, with a freshly signed link for a file.
func (s *Service) render(ctx context.Context, m Message) protocol.ChatMessage {
	url := ""
	if m.File != nil && !m.Deleted {
		var err error
		url, err = s.files.store.PresignDownload(ctx, m.File.Key, m.File.Name, s.files.policy.DownloadTTL)
		if err != nil {
			s.log.WarnContext(ctx, "sign download link", "err", err)
		}
	}
	return RenderMessage(m, url)
}
