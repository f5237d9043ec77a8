package embeds3

import (
	"bytes"
	"encoding/hex"
	"io"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// lockedBackend serialises writes to gofakes3's bbolt backend and copies
// every object it reads before the next write. The backend returns object
// contents and hashes that still point into bbolt's memory map, which a
// write that grows the file unmaps: reading them afterwards crashed the
// process (its CopyObject does exactly that).
type lockedBackend struct {
	mu    sync.RWMutex
	inner gofakes3.Backend
}

var _ gofakes3.Backend = (*lockedBackend)(nil)

// detach reads o's contents and copies its hash while the lock is held.
func detach(o *gofakes3.Object, err error) (*gofakes3.Object, error) {
	if err != nil || o == nil {
		return o, err
	}
	var data []byte
	if o.Contents != nil {
		data, err = io.ReadAll(o.Contents)
		o.Contents.Close()
		if err != nil {
			return nil, err
		}
	}
	o.Contents = io.NopCloser(bytes.NewReader(data))
	o.Hash = bytes.Clone(o.Hash)
	return o, nil
}

func (b *lockedBackend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.inner.ListBuckets()
}

func (b *lockedBackend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.inner.ListBucket(name, prefix, page)
}

func (b *lockedBackend) CreateBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.CreateBucket(name)
}

func (b *lockedBackend) BucketExists(name string) (bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.inner.BucketExists(name)
}

func (b *lockedBackend) DeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.DeleteBucket(name)
}

func (b *lockedBackend) ForceDeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.ForceDeleteBucket(name)
}

func (b *lockedBackend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return detach(b.inner.GetObject(bucket, key, rng))
}

func (b *lockedBackend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return detach(b.inner.HeadObject(bucket, key))
}

func (b *lockedBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.DeleteObject(bucket, key)
}

func (b *lockedBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.PutObject(bucket, key, meta, input, size, cond)
}

func (b *lockedBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner.DeleteMulti(bucket, keys...)
}

// CopyObject reads the source whole before it writes the copy.
func (b *lockedBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	src, err := detach(b.inner.GetObject(srcBucket, srcKey, nil))
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	if _, err := b.inner.PutObject(dstBucket, dstKey, meta, src.Contents, src.Size, nil); err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: `"` + hex.EncodeToString(src.Hash) + `"`, LastModified: gofakes3.NewContentTime(time.Now())}, nil
}
