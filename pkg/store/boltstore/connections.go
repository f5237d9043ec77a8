package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// maxConnectionsOfUsers is the most users ConnectionsOf takes, as the port
// documents; enforcing it here makes a caller that passes more fail locally
// too.
const maxConnectionsOfUsers = chat.SeatCount + 1

// live reports whether c has not expired. Expired records stay until their
// $disconnect, late as it may be, deletes them: DeleteConnection must still
// find them so that the domain can free their user's seats.
func live(c chat.Connection, now time.Time) bool { return now.Before(c.ExpiresAt) }

// PutConnection creates or replaces a connection.
func (s *BoltStore) PutConnection(ctx context.Context, c chat.Connection) error {
	return s.update(ctx, "put connection", func(tx *bolt.Tx) error {
		conns, index := tx.Bucket(bucketConns), tx.Bucket(bucketUserConns)
		var old chat.Connection
		found, err := get(conns, []byte(c.ConnID), &old)
		if err != nil {
			return err
		}
		if found && old.UserID != "" && old.UserID != c.UserID {
			if err := index.Delete(key(old.UserID, c.ConnID)); err != nil {
				return err
			}
		}
		if c.UserID != "" {
			if err := index.Put(key(c.UserID, c.ConnID), nil); err != nil {
				return err
			}
		}
		return put(conns, []byte(c.ConnID), c)
	})
}

// GetConnection returns a live connection, or ErrNotFound when there is none
// or it has expired.
func (s *BoltStore) GetConnection(ctx context.Context, connID string) (chat.Connection, error) {
	var c chat.Connection
	err := s.view(ctx, "get connection", func(tx *bolt.Tx) error {
		found, err := get(tx.Bucket(bucketConns), []byte(connID), &c)
		if err != nil {
			return err
		}
		if !found || !live(c, time.Now()) {
			return fmt.Errorf("connection %s: %w", connID, chat.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return chat.Connection{}, err
	}
	return c, nil
}

// DeleteConnection removes a connection and returns what it was, expired or
// not; ErrNotFound if there was none.
func (s *BoltStore) DeleteConnection(ctx context.Context, connID string) (chat.Connection, error) {
	var c chat.Connection
	err := s.update(ctx, "delete connection", func(tx *bolt.Tx) error {
		conns := tx.Bucket(bucketConns)
		found, err := get(conns, []byte(connID), &c)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("connection %s: %w", connID, chat.ErrNotFound)
		}
		if c.UserID != "" {
			if err := tx.Bucket(bucketUserConns).Delete(key(c.UserID, connID)); err != nil {
				return err
			}
		}
		return conns.Delete([]byte(connID))
	})
	if err != nil {
		return chat.Connection{}, err
	}
	return c, nil
}

// ConnectionsOf returns the live, authenticated connections of the given
// users: one cursor range per user over the user->connections index.
func (s *BoltStore) ConnectionsOf(ctx context.Context, userIDs ...string) ([]chat.Connection, error) {
	if len(userIDs) > maxConnectionsOfUsers {
		return nil, fmt.Errorf("boltstore: connections of %d users, at most %d", len(userIDs), maxConnectionsOfUsers)
	}
	var out []chat.Connection
	err := s.view(ctx, "connections of", func(tx *bolt.Tx) error {
		now := time.Now()
		conns, index := tx.Bucket(bucketConns), tx.Bucket(bucketUserConns)
		seen := make(map[string]bool, len(userIDs))
		for _, userID := range userIDs {
			if userID == "" || seen[userID] {
				continue
			}
			seen[userID] = true
			for _, connID := range suffixes(index, userID) {
				var c chat.Connection
				found, err := get(conns, []byte(connID), &c)
				if err != nil {
					return err
				}
				if found && c.UserID == userID && live(c, now) {
					out = append(out, c)
				}
			}
		}
		return nil
	})
	return out, err
}
