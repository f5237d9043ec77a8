package client

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// UploadAvatar makes an image (fileType image/png, image/jpeg, image/gif
// or image/webp, at most 1 MiB) this user's avatar, in the three steps of
// the protocol: it asks for an upload (POST /api/files, purpose avatar),
// uploads data where told, and announces it (avatar-updated with the
// fileKey), which the server answers once it has checked the image. The
// users who share a room or a conversation with this user get an
// AvatarUpdated event; the avatarUrl of this user, wherever it is shown,
// then points to the new image.
func (c *Client) UploadAvatar(ctx context.Context, fileName, fileType string, data []byte) error {
	var up protocol.FileUpload
	body := protocol.FileUploadRequest{Purpose: "avatar", FileName: fileName, FileType: fileType, Size: int64(len(data))}
	if err := c.call(ctx, http.MethodPost, "/api/files", nil, body, &up, true); err != nil {
		return err
	}
	if err := c.upload(ctx, up.Upload, fileName, data); err != nil {
		return err
	}
	_, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionAvatarUpdated, AvatarFileKey: up.FileKey})
	return err
}

// upload sends data as a presigned upload says: a form POST of its fields
// followed by the file (an S3 POST policy), or a request with its headers.
func (c *Client) upload(ctx context.Context, up protocol.PresignedUpload, fileName string, data []byte) error {
	target, err := c.ResolveURL(up.URL)
	if err != nil {
		return err
	}
	var req *http.Request
	if up.Method == "" || strings.EqualFold(up.Method, http.MethodPost) {
		var form bytes.Buffer
		w := multipart.NewWriter(&form)
		// S3 reads the policy's fields before the file, which must come last.
		for _, k := range slices.Sorted(maps.Keys(up.Fields)) {
			if err := w.WriteField(k, up.Fields[k]); err != nil {
				return fmt.Errorf("client: upload: %w", err)
			}
		}
		part, err := w.CreateFormFile("file", fileName)
		if err == nil {
			_, err = part.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			return fmt.Errorf("client: upload: %w", err)
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, target, &form); err != nil {
			return fmt.Errorf("client: upload: %w", err)
		}
		req.Header.Set("Content-Type", w.FormDataContentType())
	} else {
		if req, err = http.NewRequestWithContext(ctx, up.Method, target, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("client: upload: %w", err)
		}
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.o.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("client: upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		e := errorOf(resp)
		e.Message = "upload: " + e.Message
		return e
	}
	return nil
}
