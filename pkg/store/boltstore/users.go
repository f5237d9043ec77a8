package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// maxUsersByID is the most ids UsersByID takes, as the port documents
// (DynamoDB's BatchGetItem limit); enforcing it here makes a caller that
// passes more fail locally, not only on AWS.
const maxUsersByID = 100

// CreateUser stores a new user; ErrConflict if the username is taken.
func (s *BoltStore) CreateUser(ctx context.Context, u chat.User) error {
	return s.update(ctx, "create user", func(tx *bolt.Tx) error {
		names, users := tx.Bucket(bucketUsernames), tx.Bucket(bucketUsers)
		if names.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("username %q is taken: %w", u.Username, chat.ErrConflict)
		}
		if users.Get([]byte(u.UserID)) != nil {
			return fmt.Errorf("user id %s exists: %w", u.UserID, chat.ErrConflict)
		}
		if err := names.Put([]byte(u.Username), []byte(u.UserID)); err != nil {
			return err
		}
		return put(users, []byte(u.UserID), u)
	})
}

// UserByName returns the user with that exact username, or ErrNotFound.
func (s *BoltStore) UserByName(ctx context.Context, username string) (chat.User, error) {
	var u chat.User
	err := s.view(ctx, "user by name", func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if id == nil {
			return fmt.Errorf("user %q: %w", username, chat.ErrNotFound)
		}
		return getUser(tx, string(id), &u)
	})
	return u, err
}

// UserByID returns the user, or ErrNotFound.
func (s *BoltStore) UserByID(ctx context.Context, userID string) (chat.User, error) {
	var u chat.User
	err := s.view(ctx, "user by id", func(tx *bolt.Tx) error {
		return getUser(tx, userID, &u)
	})
	return u, err
}

func getUser(tx *bolt.Tx, userID string, u *chat.User) error {
	ok, err := get(tx.Bucket(bucketUsers), []byte(userID), u)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("user %s: %w", userID, chat.ErrNotFound)
	}
	return nil
}

// UsersByID returns the users that exist among ids (at most 100 ids).
func (s *BoltStore) UsersByID(ctx context.Context, ids []string) (map[string]chat.User, error) {
	if len(ids) > maxUsersByID {
		return nil, fmt.Errorf("boltstore: users by id: %d ids, at most %d", len(ids), maxUsersByID)
	}
	out := make(map[string]chat.User, len(ids))
	err := s.view(ctx, "users by id", func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		for _, id := range ids {
			var u chat.User
			ok, err := get(users, []byte(id), &u)
			if err != nil {
				return err
			}
			if ok {
				out[id] = u
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SearchUsers returns up to limit users whose username starts with prefix,
// ordered by username: a cursor range over the username index.
func (s *BoltStore) SearchUsers(ctx context.Context, prefix string, limit int) ([]chat.User, error) {
	var out []chat.User
	err := s.view(ctx, "search users", func(tx *bolt.Tx) error {
		p := []byte(prefix)
		c := tx.Bucket(bucketUsernames).Cursor()
		for k, id := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(out) < limit; k, id = c.Next() {
			var u chat.User
			if err := getUser(tx, string(id), &u); err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// SetAvatar changes a user's avatar; ErrNotFound if there is no user.
func (s *BoltStore) SetAvatar(ctx context.Context, userID, avatar string) error {
	return s.update(ctx, "set avatar", func(tx *bolt.Tx) error {
		var u chat.User
		if err := getUser(tx, userID, &u); err != nil {
			return err
		}
		u.Avatar = avatar
		return put(tx.Bucket(bucketUsers), []byte(userID), u)
	})
}
