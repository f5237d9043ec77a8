package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Buckets and their keys. Composite keys join their parts with sep, a byte
// no id or name contains, so that the range of "a"+sep never holds a key of
// "ab".
var (
	bucketUsers        = []byte("users")              // userID -> userRec
	bucketUsernames    = []byte("usernames")          // username -> userID
	bucketOnline       = []byte("online")             // userID -> empty, users with live connections
	bucketConns        = []byte("connections")        // connID -> connRec
	bucketConvMessages = []byte("conv-messages")      // conversationID sep seq -> chat.Message
	bucketIndex        = []byte("user-conversations") // userID sep peerID -> indexRec
	bucketMessageIndex = []byte("message-index")      // messageID -> locator
	bucketIdempotency  = []byte("idempotency")        // userID sep clientID -> messageID
	bucketRooms        = []byte("rooms")              // room -> roomRec
	bucketRoomMessages = []byte("room-messages")      // room sep epoch sep seq -> chat.Message
	bucketSubs         = []byte("subscriptions")      // watched userID sep connID -> expiry

	allBuckets = [][]byte{
		bucketUsers, bucketUsernames, bucketOnline, bucketConns, bucketConvMessages,
		bucketIndex, bucketMessageIndex, bucketIdempotency, bucketRooms, bucketRoomMessages, bucketSubs,
	}
)

const sep = "\x00"

// schemaKey marks a file laid out as this package writes it; files of the
// first layout (before seq numbers) are refused rather than misread.
var (
	bucketMeta = []byte("meta")
	schemaKey  = []byte("schema")
	schema     = []byte("2")
)

// lockTimeout bounds the wait for the file lock that another process holds.
var lockTimeout = 2 * time.Second

// maxBatch bounds how many writes one transaction commits together.
const maxBatch = 256

// BoltStore is a chat.Store in one bbolt file. It is safe for concurrent
// use. Reads run in parallel; writes go to one writer, which commits every
// write that is waiting in one transaction (group commit): each write is
// still durable (fsynced) before it returns, but a busy store pays one
// fsync per batch instead of one per write.
type BoltStore struct {
	db  *bolt.DB
	now func() time.Time

	writes    chan writeReq
	closing   chan struct{}
	writer    sync.WaitGroup
	closeOnce sync.Once
	// commits counts write transactions, for the test of group commit.
	commits atomic.Int64
	// hot holds the records every message reads (hot.go).
	hot *hotCache
}

var _ chat.Store = (*BoltStore)(nil)

// Option configures a BoltStore.
type Option func(*BoltStore)

// WithClock replaces time.Now, which decides whether connections and
// subscriptions have expired and stamps when users were last seen.
func WithClock(now func() time.Time) Option { return func(s *BoltStore) { s.now = now } }

// ErrClosed is returned by calls on a closed store.
var ErrClosed = errors.New("boltstore: closed")

type writeReq struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// Open opens or creates the store file at path, creating its directory.
func Open(path string, opts ...Option) (*BoltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: the file is locked by another process (is another minichat running?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(schemaKey); {
		case v == nil && tx.Bucket(bucketUsers) != nil:
			return fmt.Errorf("the file holds data of an older minichat (no message seq numbers); move it away to start afresh")
		case v != nil && !bytes.Equal(v, schema):
			return fmt.Errorf("the file has layout %q, this minichat reads %q", v, schema)
		}
		if err := meta.Put(schemaKey, schema); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("boltstore: open %s: %w", path, err), db.Close())
	}
	s := &BoltStore{db: db, now: time.Now, writes: make(chan writeReq), closing: make(chan struct{}), hot: newHotCache()}
	caches.Store(db, s.hot)
	for _, o := range opts {
		o(s)
	}
	s.writer.Add(1)
	go s.write()
	return s, nil
}

// Close stops the writer and releases the file; the store is unusable
// afterwards.
func (s *BoltStore) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.writer.Wait()
	caches.Delete(s.db)
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// write is the one writer: it takes a write, adds every other one already
// waiting, and commits them in one transaction. If that transaction fails,
// each write runs again in a transaction of its own, so that one failing
// write fails alone.
func (s *BoltStore) write() {
	defer s.writer.Done()
	for {
		var batch []writeReq
		select {
		case <-s.closing:
			return
		case r := <-s.writes:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commits.Add(1)
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, r := range batch {
				if err := r.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(batch) == 1 {
			for _, r := range batch {
				r.done <- err
			}
			continue
		}
		for _, r := range batch {
			r.done <- s.db.Update(r.fn)
		}
	}
}

// read runs fn over the cache of hot records.
func (s *BoltStore) read(ctx context.Context, op string, fn func(rd reader) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := fn(hotReader{s}); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// view runs fn in a read transaction.
func (s *BoltStore) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// update runs fn in the writer's next transaction and returns once it is
// committed. fn may run twice (alone, after its batch failed), so it must
// set every result it hands out afresh. A domain outcome (not found,
// conflict) is best returned through fn's results, not as its error: an
// error fails the whole batch, which then runs write by write.
func (s *BoltStore) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	r := writeReq{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- r:
	case <-s.closing:
		return fmt.Errorf("boltstore: %s: %w", op, ErrClosed)
	}
	// Once handed over, the write happens: wait for it whatever ctx says,
	// so that the caller never reports as failed what was committed.
	if err := <-r.done; err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, sep)) }

// seqKey is prefix sep seq, with seq big-endian so that keys sort by it.
func seqKey(prefix string, seq int64) []byte {
	k := make([]byte, 0, len(prefix)+1+8)
	k = append(k, prefix...)
	k = append(k, sep...)
	return binary.BigEndian.AppendUint64(k, uint64(seq))
}

// get decodes the record under k into v and reports whether there was one.
func get(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

func put(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	return b.Put(k, data)
}

// suffixes returns the rest of every key that starts with prefix+sep, in
// key order.
func suffixes(b *bolt.Bucket, prefix string) []string {
	p := key(prefix, "")
	var out []string
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		out = append(out, string(k[len(p):]))
	}
	return out
}

// deletePrefix deletes every key of b that starts with prefix+sep.
func deletePrefix(b *bolt.Bucket, prefix string) error {
	for _, s := range suffixes(b, prefix) {
		if err := b.Delete(key(prefix, s)); err != nil {
			return err
		}
	}
	return nil
}
