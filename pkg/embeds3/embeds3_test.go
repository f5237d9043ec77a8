package embeds3_test

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// Copies and downloads interleaved with writes that grow the bbolt file
// read what was written: the backend's own CopyObject read freed memory
// and crashed the process.
func TestBoltBackendCopiesWhileGrowing(t *testing.T) {
	srv, err := embeds3.Open(filepath.Join(t.TempDir(), "files.db"), "b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	files := s3files.New(testenv.S3Client(hs.URL), "b")
	ctx := t.Context()
	upload := func(key string, data []byte) error {
		up, err := files.PresignUpload(ctx, key, "application/zip", "f.zip", int64(len(data)), nil, time.Minute)
		if err != nil {
			return err
		}
		return filestest.Post(ctx, up.URL, up.Fields, "f.zip", data)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte(i)}, 256<<10) // grows the file
			src, dst := fmt.Sprint("src/", i), fmt.Sprint("dst/", i)
			if err := upload(src, data); err != nil {
				errs <- err
				return
			}
			if err := files.Copy(ctx, src, dst); err != nil {
				errs <- err
				return
			}
			info, err := files.Inspect(ctx, dst, len(data))
			if err != nil || info.Size != int64(len(data)) || !bytes.Equal(info.Head, data) {
				errs <- fmt.Errorf("copy %d: size %d, %v", i, info.Size, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
