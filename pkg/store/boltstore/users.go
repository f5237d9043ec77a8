package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// userRec is a user with what changes while they chat: their live
// connections (id -> expiry), the rooms they sit in and when they were
// last seen.
type userRec struct {
	chat.User
	Conns    map[string]time.Time `json:",omitempty"`
	Rooms    []string             `json:",omitempty"`
	LastSeen time.Time            `json:",omitempty"`
}

// live returns the user's unexpired connections, sorted by id.
func (u userRec) live(now time.Time) []chat.Target {
	// One allocation: every message reads this for each seated user.
	ts := make([]chat.Target, 0, len(u.Conns))
	for id, exp := range u.Conns {
		if exp.After(now) {
			ts = append(ts, chat.Target{ConnID: id, UserID: u.UserID, ExpiresAt: exp})
		}
	}
	if len(ts) == 0 {
		return nil
	}
	slices.SortFunc(ts, func(a, b chat.Target) int { return strings.Compare(a.ConnID, b.ConnID) })
	return ts
}

func (u userRec) peer(now time.Time) chat.Peer {
	p := chat.Peer{User: u.User, Conns: u.live(now), LastSeen: u.LastSeen}
	p.PasswordHash = ""
	return p
}

func getUser(tx *bolt.Tx, userID string) (userRec, bool, error) {
	var u userRec
	found, err := get(tx.Bucket(bucketUsers), []byte(userID), &u)
	return u, found, err
}

// putUser stores u and keeps the index of users with connections in step.
func putUser(tx *bolt.Tx, u userRec) error {
	if len(u.Conns) > 0 {
		if err := tx.Bucket(bucketOnline).Put([]byte(u.UserID), nil); err != nil {
			return err
		}
	} else if err := tx.Bucket(bucketOnline).Delete([]byte(u.UserID)); err != nil {
		return err
	}
	return putHot(tx, hotUsers, bucketUsers, u.UserID, u)
}

// CreateUser stores a new user; ErrConflict if the username is taken.
func (s *BoltStore) CreateUser(ctx context.Context, u chat.User) error {
	var taken bool
	err := s.update(ctx, "create user", func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketUsernames)
		taken = names.Get([]byte(u.Username)) != nil || tx.Bucket(bucketUsers).Get([]byte(u.UserID)) != nil
		if taken {
			return nil
		}
		if err := names.Put([]byte(u.Username), []byte(u.UserID)); err != nil {
			return err
		}
		return putUser(tx, userRec{User: u})
	})
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("boltstore: username %q: %w", u.Username, chat.ErrConflict)
	}
	return nil
}

// UserByName returns the user with that exact username.
func (s *BoltStore) UserByName(ctx context.Context, username string) (chat.User, error) {
	var u userRec
	var found bool
	err := s.view(ctx, "user by name", func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if id == nil {
			return nil
		}
		var err error
		u, found, err = getUser(tx, string(id))
		return err
	})
	if err != nil {
		return chat.User{}, err
	}
	if !found {
		return chat.User{}, fmt.Errorf("boltstore: user %q: %w", username, chat.ErrNotFound)
	}
	return u.User, nil
}

// maxPeers is the port's bound on the users one call names; kept here as
// DynamoDB keeps it, so that a caller that exceeds it fails in tests too.
const maxPeers = 100

// Peers returns the users among ids with their live connections.
func (s *BoltStore) Peers(ctx context.Context, ids []string) (map[string]chat.Peer, error) {
	if len(ids) > maxPeers {
		return nil, fmt.Errorf("boltstore: peers: %d ids, at most %d", len(ids), maxPeers)
	}
	out := make(map[string]chat.Peer, len(ids))
	now := s.now()
	err := s.read(ctx, "peers", func(rd reader) error {
		for _, id := range ids {
			u, found, err := rd.user(id)
			if err != nil {
				return err
			}
			if found {
				out[id] = u.peer(now)
			}
		}
		return nil
	})
	return out, err
}

// SearchUsers walks the username index from prefix.
func (s *BoltStore) SearchUsers(ctx context.Context, prefix string, limit int) ([]chat.User, error) {
	var out []chat.User
	err := s.view(ctx, "search users", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsernames).Cursor()
		for k, id := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)) && len(out) < limit; k, id = c.Next() {
			u, found, err := getUser(tx, string(id))
			if err != nil {
				return err
			}
			if found {
				u.PasswordHash = ""
				out = append(out, u.User)
			}
		}
		return nil
	})
	return out, err
}

// SetAvatar changes the user's text avatar, and image avatar when key is
// set.
func (s *BoltStore) SetAvatar(ctx context.Context, id chat.Identity, avatar, key, version string) (chat.User, []string, error) {
	var u userRec
	var found bool
	err := s.update(ctx, "set avatar", func(tx *bolt.Tx) error {
		var err error
		u, found, err = getUser(tx, id.UserID)
		if err != nil || !found {
			return err
		}
		u.Avatar = avatar
		if key != "" {
			u.AvatarKey, u.AvatarVersion = key, version
		}
		return putUser(tx, u)
	})
	if err != nil {
		return chat.User{}, nil, err
	}
	if !found {
		return chat.User{}, nil, fmt.Errorf("boltstore: user %q: %w", id.UserID, chat.ErrNotFound)
	}
	u.PasswordHash = ""
	return u.User, slices.Clone(u.Rooms), nil
}
