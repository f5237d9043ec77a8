package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Buckets and their keys. Composite keys join their parts with sep, a byte
// no id or name contains, so that the range of "a"+sep never holds a key of
// "ab".
var (
	bucketUsers        = []byte("users")                 // userID -> chat.User
	bucketUsernames    = []byte("usernames")             // username -> userID
	bucketConns        = []byte("connections")           // connID -> chat.Connection
	bucketUserConns    = []byte("user-connections")      // userID sep connID -> empty
	bucketMessages     = []byte("messages")              // messageID -> chat.Message
	bucketConvMessages = []byte("conversation-messages") // conversationID sep messageID -> empty
	bucketIdempotency  = []byte("idempotency")           // idemKey -> messageID
	bucketSummaries    = []byte("conversations")         // userID sep peerID -> summary
	bucketRooms        = []byte("rooms")                 // room name -> chat.Room
	bucketUserRooms    = []byte("user-rooms")            // userID sep room name -> empty
	bucketRates        = []byte("rate-limits")           // key -> tokenBucket
	bucketCounters     = []byte("counters")              // key sep window start -> count

	allBuckets = [][]byte{
		bucketUsers, bucketUsernames, bucketConns, bucketUserConns, bucketMessages,
		bucketConvMessages, bucketIdempotency, bucketSummaries, bucketRooms,
		bucketUserRooms, bucketRates, bucketCounters,
	}
)

const sep = "\x00"

// lockTimeout bounds the wait for the file lock that another process holds.
var lockTimeout = 2 * time.Second

// BoltStore is a chat.Store in one bbolt file. It is safe for concurrent use.
type BoltStore struct {
	db *bolt.DB
}

var _ chat.Store = (*BoltStore)(nil)

// Open opens or creates the store file at path, creating its directory.
func Open(path string) (*BoltStore, error) {
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
	return &BoltStore{db: db}, nil
}

// Close releases the file; the store is unusable afterwards.
func (s *BoltStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

func (s *BoltStore) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

func (s *BoltStore) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, sep)) }

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
