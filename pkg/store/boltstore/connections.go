package boltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// connRec is a connection as stored: its siblings are read from its user.
type connRec struct {
	ConnID      string
	UserID      string `json:",omitempty"`
	Username    string `json:",omitempty"`
	ConnectedAt time.Time
	ExpiresAt   time.Time
}

func (c connRec) connection() chat.Connection {
	return chat.Connection{ConnID: c.ConnID, UserID: c.UserID, Username: c.Username, ConnectedAt: c.ConnectedAt, ExpiresAt: c.ExpiresAt}
}

func getConn(tx *bolt.Tx, connID string) (connRec, bool, error) {
	var c connRec
	found, err := get(tx.Bucket(bucketConns), []byte(connID), &c)
	return c, found, err
}

// join adds a connection to its user's live ones and reports whether it is
// the only one.
func join(tx *bolt.Tx, c connRec, now time.Time) (bool, error) {
	u, found, err := getUser(tx, c.UserID)
	if err != nil || !found {
		return false, err
	}
	first := len(u.live(now)) == 0 && c.ExpiresAt.After(now)
	if u.Conns == nil {
		u.Conns = map[string]time.Time{}
	}
	for id, exp := range u.Conns {
		if !exp.After(now) {
			delete(u.Conns, id)
		}
	}
	u.Conns[c.ConnID] = c.ExpiresAt
	u.LastSeen = c.ConnectedAt
	return first, putUser(tx, u)
}

// Connect records the connection, and adds it to its user's.
func (s *BoltStore) Connect(ctx context.Context, c chat.Connection) (bool, error) {
	var first bool
	now := s.now()
	err := s.update(ctx, "connect", func(tx *bolt.Tx) error {
		rec := connRec{ConnID: c.ConnID, UserID: c.UserID, Username: c.Username, ConnectedAt: c.ConnectedAt, ExpiresAt: c.ExpiresAt}
		if err := putHot(tx, hotConns, bucketConns, c.ConnID, rec); err != nil {
			return err
		}
		first = false
		if !c.Authenticated() {
			return nil
		}
		var err error
		first, err = join(tx, rec, now)
		return err
	})
	return first, err
}

// Authenticate makes an anonymous connection speak for id.
func (s *BoltStore) Authenticate(ctx context.Context, connID string, id chat.Identity) (chat.Connection, bool, error) {
	var (
		rec          connRec
		found, first bool
	)
	now := s.now()
	err := s.update(ctx, "authenticate", func(tx *bolt.Tx) error {
		var err error
		first = false
		rec, found, err = getConn(tx, connID)
		if err != nil || !found || !rec.ExpiresAt.After(now) {
			found = false
			return err
		}
		if rec.UserID != "" {
			return nil
		}
		rec.UserID, rec.Username = id.UserID, id.Username
		if err := putHot(tx, hotConns, bucketConns, connID, rec); err != nil {
			return err
		}
		first, err = join(tx, rec, now)
		return err
	})
	switch {
	case err != nil:
		return chat.Connection{}, false, err
	case !found:
		return chat.Connection{}, false, fmt.Errorf("boltstore: connection %q: %w", connID, chat.ErrNotFound)
	case rec.UserID != id.UserID:
		return chat.Connection{}, false, fmt.Errorf("boltstore: connection %q speaks for another user: %w", connID, chat.ErrForbidden)
	}
	return rec.connection(), first, nil
}

// GetConnection returns a live connection with its siblings.
func (s *BoltStore) GetConnection(ctx context.Context, connID string) (chat.Connection, error) {
	var c chat.Connection
	var found bool
	now := s.now()
	err := s.read(ctx, "get connection", func(rd reader) error {
		rec, ok, err := rd.conn(connID)
		if err != nil || !ok || !rec.ExpiresAt.After(now) {
			return err
		}
		found, c = true, rec.connection()
		if rec.UserID == "" {
			return nil
		}
		u, ok, err := rd.user(rec.UserID)
		if ok {
			c.Siblings = u.live(now)
		}
		return err
	})
	if err != nil {
		return chat.Connection{}, err
	}
	if !found {
		return chat.Connection{}, fmt.Errorf("boltstore: connection %q: %w", connID, chat.ErrNotFound)
	}
	return c, nil
}

// leaveUser removes connections from their user; last reports that none is
// left, and then the user leaves every room they sat in.
func leaveUser(tx *bolt.Tx, userID string, connIDs []string, now time.Time) (last bool, left []chat.Left, err error) {
	u, found, err := getUser(tx, userID)
	if err != nil || !found {
		return false, nil, err
	}
	// A user who held connections (live or not) or seats goes offline
	// now; one who had neither was offline already.
	had := len(u.Conns) > 0 || len(u.Rooms) > 0
	seatConns := u.live(now)
	for _, id := range connIDs {
		delete(u.Conns, id)
	}
	last = had && len(u.live(now)) == 0
	rooms := slices.Clone(u.Rooms)
	if last {
		u.Conns = nil
		u.LastSeen = now
	}
	if err := putUser(tx, u); err != nil || !last {
		return last, nil, err
	}
	for _, room := range rooms {
		l, err := leaveTx(tx, room, userID, now)
		if err != nil {
			return false, nil, err
		}
		if l.changed {
			// The seat as it was: with the connections it had before
			// these closed.
			l.Freed.Conns = seatConns
			left = append(left, l.Left)
		}
	}
	return last, left, nil
}

// Disconnect forgets a connection.
func (s *BoltStore) Disconnect(ctx context.Context, connID string) (chat.Connection, bool, []chat.Left, error) {
	var (
		rec         connRec
		found, last bool
		left        []chat.Left
	)
	now := s.now()
	err := s.update(ctx, "disconnect", func(tx *bolt.Tx) error {
		var err error
		last, left = false, nil
		rec, found, err = getConn(tx, connID)
		if err != nil || !found {
			return err
		}
		if err := deleteHot(tx, hotConns, bucketConns, connID); err != nil {
			return err
		}
		if rec.UserID == "" {
			return nil
		}
		last, left, err = leaveUser(tx, rec.UserID, []string{connID}, now)
		return err
	})
	if err != nil {
		return chat.Connection{}, false, nil, err
	}
	if !found {
		return chat.Connection{}, false, nil, fmt.Errorf("boltstore: connection %q: %w", connID, chat.ErrNotFound)
	}
	return rec.connection(), last, left, nil
}

// Forget drops dead connections of a user.
func (s *BoltStore) Forget(ctx context.Context, userID string, connIDs []string) (bool, []chat.Left, error) {
	var (
		last bool
		left []chat.Left
	)
	now := s.now()
	err := s.update(ctx, "forget", func(tx *bolt.Tx) error {
		for _, id := range connIDs {
			if err := deleteHot(tx, hotConns, bucketConns, id); err != nil {
				return err
			}
		}
		var err error
		last, left, err = leaveUser(tx, userID, connIDs, now)
		return err
	})
	return last, left, err
}

// Targets returns the live connections of users and of everyone seated in
// rooms.
func (s *BoltStore) Targets(ctx context.Context, users, rooms []string) ([]chat.Target, error) {
	if len(users)+len(rooms) > maxPeers {
		return nil, fmt.Errorf("boltstore: targets: %d users and rooms, at most %d", len(users)+len(rooms), maxPeers)
	}
	var out []chat.Target
	now := s.now()
	err := s.read(ctx, "targets", func(rd reader) error {
		out = nil
		for _, name := range rooms {
			r, err := readRoom(rd, name, now)
			if err != nil {
				return err
			}
			out = append(out, r.Targets()...)
		}
		for _, id := range users {
			u, found, err := rd.user(id)
			if err != nil {
				return err
			}
			if found {
				out = append(out, u.live(now)...)
			}
		}
		return nil
	})
	return out, err
}

// ForgetConnections forgets every connection, seat and presence
// subscription: what a restarted local server must do, since no
// connection of the process before it can exist. Users keep their
// accounts and messages; rooms start new epochs.
func (s *BoltStore) ForgetConnections(ctx context.Context) error {
	now := s.now()
	return s.update(ctx, "forget connections", func(tx *bolt.Tx) error {
		online := tx.Bucket(bucketOnline)
		var ids []string
		if err := online.ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		}); err != nil {
			return err
		}
		var roomNames []string
		if err := tx.Bucket(bucketRooms).ForEach(func(k, _ []byte) error {
			roomNames = append(roomNames, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range roomNames {
			r, err := readRoom(txReader{tx}, name, now)
			if err != nil {
				return err
			}
			for _, uid := range r.Members() {
				if !slices.Contains(ids, uid) {
					ids = append(ids, uid)
				}
			}
			if err := deleteHot(tx, hotRooms, bucketRooms, name); err != nil {
				return err
			}
		}
		for _, id := range ids {
			u, found, err := getUser(tx, id)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if len(u.Conns) > 0 {
				u.LastSeen = now
			}
			u.Conns, u.Rooms = nil, nil
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		dropHot(tx, hotConns)
		for _, b := range [][]byte{bucketConns, bucketSubs, bucketOnline} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}
