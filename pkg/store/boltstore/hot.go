package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// The hot records: what every message reads (the room, its seated users,
// its latest message; the sender's connection and the peer). Reading them
// from the file costs a read transaction (bbolt serialises their start on
// one lock, a convoy under load) and a JSON decode per record. The store
// is the file's only writer, so it keeps the committed bytes of these
// records in memory, write-through: each write registers the new bytes
// with its transaction, and they are applied when it commits (before the
// writer's callers are released, so a caller reads its own writes).
// Readers decode a record once and share it read-only.
type hotKind uint8

const (
	hotUsers hotKind = iota // userID -> userRec
	hotRooms                // room -> roomRec
	hotConns                // connID -> connRec
	hotLast                 // room sep epoch -> the latest chat.Message
	hotKinds
)

// hotMax bounds each kind's entries; past it, some are dropped (a
// variable, for the test of dropping).
var hotMax = 50_000

type hotCache struct {
	mu sync.RWMutex
	// gen changes whenever entries are dropped: a reader that missed
	// before a drop must not insert what it read (a write may have been
	// dropped in between).
	gen uint64
	m   [hotKinds]map[string]*hotEntry
}

// hotEntry is one record's committed bytes (nil: no such record) and,
// once a reader needed it, their decoding.
type hotEntry struct {
	data []byte
	once sync.Once
	v    any
	err  error
}

func newHotCache() *hotCache {
	c := &hotCache{}
	for i := range c.m {
		c.m[i] = map[string]*hotEntry{}
	}
	return c
}

// caches finds a store's cache from a transaction (tx.DB()), for the
// package's write helpers, which see only the transaction.
var caches sync.Map // *bolt.DB -> *hotCache

func cacheOf(tx *bolt.Tx) *hotCache {
	c, _ := caches.Load(tx.DB())
	hc, _ := c.(*hotCache)
	return hc
}

// setHot registers data (nil: deleted) as k's bytes once tx commits.
// Commit callbacks run in commit order only because the store has one
// writer goroutine (BoltStore.write): a second writer could apply an
// older transaction's bytes after a newer one's.
func setHot(tx *bolt.Tx, kind hotKind, k string, data []byte) {
	onCommit(tx, func(c *hotCache) {
		c.m[kind][k] = &hotEntry{data: data}
		c.trim(kind)
	})
}

// setHotDecoded is setHot for a writer that holds the record decoded
// already (a new message): readers then need not decode it again.
func setHotDecoded(tx *bolt.Tx, kind hotKind, k string, data []byte, v any) {
	onCommit(tx, func(c *hotCache) {
		e := &hotEntry{data: data, v: v}
		e.once.Do(func() {})
		c.m[kind][k] = e
		c.trim(kind)
	})
}

// dropHot forgets every entry of kind once tx commits (a bucket emptied).
func dropHot(tx *bolt.Tx, kind hotKind) {
	onCommit(tx, func(c *hotCache) {
		c.m[kind] = map[string]*hotEntry{}
		c.gen++
	})
}

// onCommit applies change to tx's store cache, under its lock, once tx
// commits.
func onCommit(tx *bolt.Tx, change func(c *hotCache)) {
	c := cacheOf(tx)
	if c == nil {
		return
	}
	tx.OnCommit(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		change(c)
	})
}

func (c *hotCache) trim(kind hotKind) {
	m := c.m[kind]
	if len(m) <= hotMax {
		return
	}
	n := len(m) / 10
	for k := range m {
		delete(m, k)
		if n--; n == 0 {
			break
		}
	}
	c.gen++
}

// putHot stores v under k in b and in the cache.
func putHot(tx *bolt.Tx, kind hotKind, b []byte, k string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	if err := tx.Bucket(b).Put([]byte(k), data); err != nil {
		return err
	}
	setHot(tx, kind, k, data)
	return nil
}

// deleteHot deletes k from b and from the cache.
func deleteHot(tx *bolt.Tx, kind hotKind, b []byte, k string) error {
	if err := tx.Bucket(b).Delete([]byte(k)); err != nil {
		return err
	}
	setHot(tx, kind, k, nil)
	return nil
}

// entry returns k's entry, reading it with read (in a read transaction) if
// the cache has none.
func (c *hotCache) entry(db *bolt.DB, kind hotKind, k string, read func(tx *bolt.Tx) []byte) (*hotEntry, error) {
	c.mu.RLock()
	e, gen := c.m[kind][k], c.gen
	c.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	var data []byte
	if err := db.View(func(tx *bolt.Tx) error {
		data = bytes.Clone(read(tx))
		return nil
	}); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[kind][k]; cur != nil {
		return cur, nil // a commit (or another reader) was first
	}
	e = &hotEntry{data: data}
	if c.gen == gen {
		c.m[kind][k] = e
		c.trim(kind)
	}
	return e, nil
}

// hotGet returns the decoded record k of kind, shared: the caller must not
// change it.
func hotGet[T any](s *BoltStore, kind hotKind, bucket []byte, k string) (T, bool, error) {
	return hotRead[T](s, kind, k, func(tx *bolt.Tx) []byte { return tx.Bucket(bucket).Get([]byte(k)) })
}

func hotRead[T any](s *BoltStore, kind hotKind, k string, read func(tx *bolt.Tx) []byte) (T, bool, error) {
	var zero T
	e, err := s.hot.entry(s.db, kind, k, read)
	if err != nil || e.data == nil {
		return zero, false, err
	}
	e.once.Do(func() {
		var v T
		if err := json.Unmarshal(e.data, &v); err != nil {
			e.err = fmt.Errorf("decode %q: %w", k, err)
			return
		}
		e.v = v
	})
	if e.err != nil {
		return zero, false, e.err
	}
	return e.v.(T), true, nil
}

// reader reads the records that readRoom and the read paths combine: from
// a transaction (inside writes, which must see their own transaction) or
// from the cache (everywhere else).
type reader interface {
	user(id string) (userRec, bool, error)
	conn(id string) (connRec, bool, error)
	room(name string) (roomRec, bool, error)
	last(prefix string) (*chat.Message, error)
}

type txReader struct{ tx *bolt.Tx }

func (r txReader) user(id string) (userRec, bool, error)   { return getUser(r.tx, id) }
func (r txReader) conn(id string) (connRec, bool, error)   { return getConn(r.tx, id) }
func (r txReader) room(name string) (roomRec, bool, error) { return getRoom(r.tx, name) }
func (r txReader) last(prefix string) (*chat.Message, error) {
	data := lastMessage(r.tx, prefix)
	if data == nil {
		return nil, nil
	}
	var m chat.Message
	if err := jsonDecode(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

type hotReader struct{ s *BoltStore }

func (r hotReader) user(id string) (userRec, bool, error) {
	return hotGet[userRec](r.s, hotUsers, bucketUsers, id)
}
func (r hotReader) conn(id string) (connRec, bool, error) {
	return hotGet[connRec](r.s, hotConns, bucketConns, id)
}
func (r hotReader) room(name string) (roomRec, bool, error) {
	return hotGet[roomRec](r.s, hotRooms, bucketRooms, name)
}
func (r hotReader) last(prefix string) (*chat.Message, error) {
	m, found, err := hotRead[chat.Message](r.s, hotLast, prefix, func(tx *bolt.Tx) []byte { return lastMessage(tx, prefix) })
	if err != nil || !found {
		return nil, err
	}
	return &m, nil
}
