package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// tokenBucket is the state of one rate limit: the tokens left at At.
type tokenBucket struct {
	Tokens float64
	At     time.Time
}

// take refills b up to now and takes a token if there is one. A refused
// take leaves b as it was: replaying the refill later from the old state
// gives the same tokens, since a bucket below one token is below the cap.
func (b tokenBucket) take(found bool, rate float64, burst int, now time.Time) (tokenBucket, bool) {
	if !found {
		b = tokenBucket{Tokens: float64(burst), At: now}
	} else if now.After(b.At) {
		b.Tokens = min(float64(burst), b.Tokens+now.Sub(b.At).Seconds()*rate)
		b.At = now
	}
	if b.Tokens < 1 {
		return b, false
	}
	b.Tokens--
	return b, true
}

// Allow takes one token from the bucket named key. A refusal is decided in
// a read transaction, so a flood of refused calls costs no disk writes; a
// grant is decided again in the write transaction that records it.
func (s *BoltStore) Allow(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, error) {
	check := func(tx *bolt.Tx) (tokenBucket, bool, error) {
		var b tokenBucket
		found, err := get(tx.Bucket(bucketRates), []byte(key), &b)
		if err != nil {
			return b, false, err
		}
		b, ok := b.take(found, rate, burst, now)
		return b, ok, nil
	}
	ok := false
	err := s.view(ctx, "allow", func(tx *bolt.Tx) error {
		var err error
		_, ok, err = check(tx)
		return err
	})
	if err != nil || !ok {
		return false, err
	}
	err = s.update(ctx, "allow", func(tx *bolt.Tx) error {
		b, granted, err := check(tx)
		if err != nil || !granted {
			ok = false
			return err
		}
		ok = true
		return put(tx.Bucket(bucketRates), []byte(key), b)
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// counterKey names key's counter for the window of length window that holds
// now. The window start is zero-padded so that a key's counters sort by
// time.
func counterKey(key string, window time.Duration, now time.Time) []byte {
	w := window.Nanoseconds()
	start := now.UnixNano() / w * w
	if now.UnixNano()%w < 0 {
		start -= w
	}
	return []byte(fmt.Sprintf("%s%s%020d", key, sep, start))
}

// Hit adds one to key's counter for the window that holds now. It forgets
// the key's counters of earlier windows, so each key keeps one record.
func (s *BoltStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("boltstore: hit: window %s: %w", window, chat.ErrBadRequest)
	}
	n := 0
	err := s.update(ctx, "hit", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		k := counterKey(key, window, now)
		if _, err := get(b, k, &n); err != nil {
			return err
		}
		n++
		if err := put(b, k, n); err != nil {
			return err
		}
		prefix := []byte(key + sep)
		c := b.Cursor()
		for ck, _ := c.Seek(prefix); ck != nil && bytes.HasPrefix(ck, prefix) && bytes.Compare(ck, k) < 0; ck, _ = c.Seek(prefix) {
			if err := b.Delete(ck); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Hits returns key's counter for the window that holds now.
func (s *BoltStore) Hits(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("boltstore: hits: window %s: %w", window, chat.ErrBadRequest)
	}
	n := 0
	err := s.view(ctx, "hits", func(tx *bolt.Tx) error {
		_, err := get(tx.Bucket(bucketCounters), counterKey(key, window, now), &n)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
