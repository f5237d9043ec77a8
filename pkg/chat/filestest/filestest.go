package filestest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Post uploads data with a presigned POST: the policy fields, then the
// file, as browsers send it.
func Post(ctx context.Context, url string, fields map[string]string, fileName string, data []byte) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			return err
		}
	}
	part, err := w.CreateFormFile("file", fileName)
	if err != nil {
		return err
	}
	part.Write(data)
	if err := w.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("upload: status %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// Get downloads url and returns its body and Content-Disposition.
func Get(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("download: status %d: %s", resp.StatusCode, b)
	}
	return b, resp.Header.Get("Content-Disposition"), err
}

// PNG is a valid 1x1 PNG image.
var PNG = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
	0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
	0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
}

// Run checks an adapter; newFiles returns a fresh one over an existing,
// empty bucket.
func Run(t *testing.T, newFiles func(t *testing.T) chat.Files) {
	key := func(name string) string { return "test/" + uuid.NewString() + "/" + name }

	t.Run("UploadInspectDownload", func(t *testing.T) {
		f, ctx := newFiles(t), t.Context()
		k := key("pixel.png")
		up, err := f.PresignUpload(ctx, k, "image/png", "my pixel.png", int64(len(PNG)), map[string]string{"declared-size": fmt.Sprint(len(PNG))}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if up.Method != http.MethodPost || up.URL == "" || up.Fields["key"] != k || up.Fields["Content-Type"] != "image/png" || up.Fields["policy"] == "" {
			t.Fatalf("upload = %+v", up)
		}
		if time.Until(up.ExpiresAt) <= 0 || time.Until(up.ExpiresAt) > time.Minute+time.Second {
			t.Fatalf("expires at %v", up.ExpiresAt)
		}
		if err := Post(ctx, up.URL, up.Fields, "pixel.png", PNG); err != nil {
			t.Fatal(err)
		}
		info, err := f.Inspect(ctx, k, 8)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(PNG)) || info.ContentType != "image/png" || !bytes.Equal(info.Head, PNG[:8]) {
			t.Fatalf("inspect = size %d type %q head %x", info.Size, info.ContentType, info.Head)
		}
		if meta(info.Metadata, "declared-size") != fmt.Sprint(len(PNG)) {
			t.Fatalf("metadata = %v", info.Metadata)
		}
		url, err := f.PresignDownload(ctx, k, "my pixel.png", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		body, disp, err := Get(ctx, url)
		if err != nil || !bytes.Equal(body, PNG) {
			t.Fatalf("download = %d bytes, %v", len(body), err)
		}
		if _, params, _ := mime.ParseMediaType(disp); params["filename"] != "my pixel.png" {
			t.Fatalf("Content-Disposition = %q", disp)
		}
	})

	t.Run("InspectWholeSmallObject", func(t *testing.T) {
		f, ctx := newFiles(t), t.Context()
		k := key("a.txt")
		up, err := f.PresignUpload(ctx, k, "text/plain", "a.txt", 5, nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := Post(ctx, up.URL, up.Fields, "a.txt", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		info, err := f.Inspect(ctx, k, 512)
		if err != nil || info.Size != 5 || string(info.Head) != "hello" || !strings.HasPrefix(info.ContentType, "text/plain") {
			t.Fatalf("inspect = %+v, %v", info, err)
		}
	})

	t.Run("CopyAndDelete", func(t *testing.T) {
		f, ctx := newFiles(t), t.Context()
		src, dst := key("src.txt"), key("dst.txt")
		up, err := f.PresignUpload(ctx, src, "text/plain", "src.txt", 4, map[string]string{"declared-size": "4"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := Post(ctx, up.URL, up.Fields, "src.txt", []byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := f.Copy(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		info, err := f.Inspect(ctx, dst, 16)
		if err != nil || info.Size != 4 || string(info.Head) != "data" || meta(info.Metadata, "declared-size") != "4" {
			t.Fatalf("copy = %+v, %v", info, err)
		}
		if err := f.Delete(ctx, src); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Inspect(ctx, src, 16); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("inspect deleted = %v", err)
		}
		if err := f.Delete(ctx, src); err != nil {
			t.Fatalf("deleting a missing object: %v", err)
		}
	})

	t.Run("MissingObject", func(t *testing.T) {
		f, ctx := newFiles(t), t.Context()
		if _, err := f.Inspect(ctx, key("nothing"), 16); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func meta(m map[string]string, k string) string {
	for kk, v := range m {
		if strings.EqualFold(kk, k) {
			return v
		}
	}
	return ""
}
