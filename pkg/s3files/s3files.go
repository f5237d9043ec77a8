package s3files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/minichatbar/minichat/pkg/chat"
)

var _ chat.Files = (*S3Files)(nil)

// S3Files stores chat files in one bucket.
type S3Files struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	now     func() time.Time
}

// New returns the adapter over client for bucket.
func New(client *s3.Client, bucket string) *S3Files {
	return &S3Files{client: client, presign: s3.NewPresignClient(client), bucket: bucket, now: time.Now}
}

// PresignUpload returns a presigned POST whose policy pins the key, the
// exact length, the content type, the download name and the metadata.
// Field names are in canonical header form, which S3 accepts in any case
// and the embedded S3 requires.
func (f *S3Files) PresignUpload(ctx context.Context, key, contentType, fileName string, size int64, meta map[string]string, ttl time.Duration) (chat.Upload, error) {
	disposition := attachment(fileName)
	conditions := []any{
		[]any{"content-length-range", size, size},
		map[string]string{"Content-Type": contentType},
		map[string]string{"Content-Disposition": disposition},
	}
	fields := map[string]string{"Content-Type": contentType, "Content-Disposition": disposition}
	for k, v := range meta {
		name := http.CanonicalHeaderKey("x-amz-meta-" + k)
		conditions = append(conditions, map[string]string{name: v})
		fields[name] = v
	}
	req, err := f.presign.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = ttl
			o.Conditions = conditions
		})
	if err != nil {
		return chat.Upload{}, fmt.Errorf("s3files: presign upload: %w", err)
	}
	for k, v := range req.Values {
		fields[k] = v
	}
	return chat.Upload{Method: http.MethodPost, URL: req.URL, Fields: fields, ExpiresAt: f.now().Add(ttl)}, nil
}

// Inspect reads the first n bytes of key with one ranged GET, which also
// tells the whole size, the type and the metadata.
func (f *S3Files) Inspect(ctx context.Context, key string, n int) (chat.FileInfo, error) {
	out, err := f.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(key), Range: aws.String("bytes=0-" + strconv.Itoa(n-1)),
	})
	if err != nil {
		return chat.FileInfo{}, classify("inspect", err)
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, int64(n)))
	if err != nil {
		return chat.FileInfo{}, fmt.Errorf("s3files: inspect: %w", err)
	}
	info := chat.FileInfo{ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata, Head: head}
	info.Size = totalSize(aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
	return info, nil
}

// totalSize reads the size of the whole object from a Content-Range
// ("bytes 0-511/12345"); without one the response was the whole object.
func totalSize(contentRange string, length int64) int64 {
	if i := strings.LastIndexByte(contentRange, '/'); i >= 0 {
		if n, err := strconv.ParseInt(contentRange[i+1:], 10, 64); err == nil {
			return n
		}
	}
	return length
}

// Copy copies src to dst within the bucket.
func (f *S3Files) Copy(ctx context.Context, src, dst string) error {
	_, err := f.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(dst), CopySource: aws.String(f.bucket + "/" + src),
	})
	return classify("copy", err)
}

// Delete removes key.
func (f *S3Files) Delete(ctx context.Context, key string) error {
	_, err := f.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if errors.Is(classify("delete", err), chat.ErrNotFound) {
		return nil
	}
	return classify("delete", err)
}

// PresignDownload returns a GET link that saves the object as fileName.
func (f *S3Files) PresignDownload(ctx context.Context, key, fileName string, ttl time.Duration) (string, error) {
	req, err := f.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(f.bucket), Key: aws.String(key),
		ResponseContentDisposition: aws.String(attachment(fileName)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3files: presign download: %w", err)
	}
	return req.URL, nil
}

// attachment is the Content-Disposition that saves a download as fileName
// instead of rendering it in the page that links it.
func attachment(fileName string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": fileName})
}

// EnsureBucket creates the bucket if it does not exist (local stacks and
// tests; on AWS the template creates it).
func (f *S3Files) EnsureBucket(ctx context.Context) error {
	_, err := f.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	return fmt.Errorf("s3files: create bucket: %w", err)
}

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")) {
		return fmt.Errorf("s3files: %s: %w", op, chat.ErrNotFound)
	}
	return fmt.Errorf("s3files: %s: %w", op, err)
}
