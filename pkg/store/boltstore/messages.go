package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// summary is one user's record of a private conversation. It names the last
// message instead of copying it, so a deletion shows without touching it.
type summary struct {
	LastMessageID string
	Unread        int
	UpdatedAt     time.Time
}

// IdempotentMessage returns the message stored with idemKey.
func (s *BoltStore) IdempotentMessage(ctx context.Context, idemKey string) (chat.Message, error) {
	var m chat.Message
	err := s.view(ctx, "idempotent message", func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketIdempotency).Get([]byte(idemKey))
		if id == nil {
			return chat.ErrNotFound
		}
		return getMessage(tx, string(id), &m)
	})
	return m, err
}

// SaveMessage stores m with its idempotency record and, for a private
// message, both parties' conversation summaries, in one transaction.
func (s *BoltStore) SaveMessage(ctx context.Context, m chat.Message, idemKey string) (chat.Message, bool, error) {
	if m.MessageID == "" {
		return chat.Message{}, false, fmt.Errorf("boltstore: save message: empty message id: %w", chat.ErrBadRequest)
	}
	stored, created := m, true
	err := s.update(ctx, "save message", func(tx *bolt.Tx) error {
		msgs, idem := tx.Bucket(bucketMessages), tx.Bucket(bucketIdempotency)
		if idemKey != "" {
			if id := idem.Get([]byte(idemKey)); id != nil {
				created = false
				return getMessage(tx, string(id), &stored)
			}
			if err := idem.Put([]byte(idemKey), []byte(m.MessageID)); err != nil {
				return err
			}
		}
		if msgs.Get([]byte(m.MessageID)) != nil {
			return fmt.Errorf("message %s exists: %w", m.MessageID, chat.ErrConflict)
		}
		if err := put(msgs, []byte(m.MessageID), m); err != nil {
			return err
		}
		if m.To == "" {
			return nil
		}
		conv := chat.ConversationID(m.From, m.To)
		if err := tx.Bucket(bucketConvMessages).Put(key(conv, m.MessageID), nil); err != nil {
			return err
		}
		if err := touchSummary(tx, m.From, m.To, m, 0); err != nil {
			return err
		}
		return touchSummary(tx, m.To, m.From, m, 1)
	})
	if err != nil {
		return chat.Message{}, false, err
	}
	return stored, created, nil
}

// touchSummary records m in userID's summary of the conversation with peerID
// and adds unread. A message older than the summary's last one (saved late,
// by a slower writer) does not displace it.
func touchSummary(tx *bolt.Tx, userID, peerID string, m chat.Message, unread int) error {
	b := tx.Bucket(bucketSummaries)
	k := key(userID, peerID)
	var sum summary
	if _, err := get(b, k, &sum); err != nil {
		return err
	}
	if m.MessageID > sum.LastMessageID {
		sum.LastMessageID, sum.UpdatedAt = m.MessageID, m.At
	}
	sum.Unread += unread
	return put(b, k, sum)
}

func getMessage(tx *bolt.Tx, messageID string, m *chat.Message) error {
	found, err := get(tx.Bucket(bucketMessages), []byte(messageID), m)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("message %s: %w", messageID, chat.ErrNotFound)
	}
	return nil
}

// GetMessage returns a message by id, or ErrNotFound.
func (s *BoltStore) GetMessage(ctx context.Context, messageID string) (chat.Message, error) {
	var m chat.Message
	err := s.view(ctx, "get message", func(tx *bolt.Tx) error {
		return getMessage(tx, messageID, &m)
	})
	if err != nil {
		return chat.Message{}, err
	}
	return m, nil
}

// MarkDeleted marks a message deleted and drops its content and file.
// Summaries refer to messages by id, so they show the deletion as they are.
func (s *BoltStore) MarkDeleted(ctx context.Context, messageID string) (chat.Message, error) {
	var m chat.Message
	err := s.update(ctx, "mark deleted", func(tx *bolt.Tx) error {
		if err := getMessage(tx, messageID, &m); err != nil {
			return err
		}
		m.Deleted, m.Content, m.File = true, "", nil
		return put(tx.Bucket(bucketMessages), []byte(messageID), m)
	})
	if err != nil {
		return chat.Message{}, err
	}
	return m, nil
}

// ListMessages returns one page of a private conversation, newest first: a
// cursor range of at most p.Limit keys over "conversationID sep messageID".
func (s *BoltStore) ListMessages(ctx context.Context, conversationID string, p chat.Page) ([]chat.Message, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	var out []chat.Message
	err := s.view(ctx, "list messages", func(tx *bolt.Tx) error {
		prefix := key(conversationID, "")
		c := tx.Bucket(bucketConvMessages).Cursor()
		var ids []string
		if p.After != "" {
			// Forwards from just after After, then reversed.
			after := key(conversationID, p.After)
			k, _ := c.Seek(after)
			if bytes.Equal(k, after) {
				k, _ = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(ids) < p.Limit; k, _ = c.Next() {
				ids = append(ids, string(k[len(prefix):]))
			}
			slices.Reverse(ids)
		} else {
			// Backwards from just before Before, or from the end of the
			// conversation's range (the first key past it is conversationID
			// followed by the byte after sep).
			upper := key(conversationID, p.Before)
			if p.Before == "" {
				upper = []byte(conversationID + "\x01")
			}
			k, _ := c.Seek(upper)
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(ids) < p.Limit; k, _ = c.Prev() {
				ids = append(ids, string(k[len(prefix):]))
			}
		}
		out = make([]chat.Message, len(ids))
		for i, id := range ids {
			if err := getMessage(tx, id, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Conversations returns userID's conversations, most recent first: a cursor
// range over the user's summaries.
func (s *BoltStore) Conversations(ctx context.Context, userID string) ([]chat.Conversation, error) {
	var out []chat.Conversation
	err := s.view(ctx, "conversations", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSummaries)
		for _, peerID := range suffixes(b, userID) {
			var sum summary
			if _, err := get(b, key(userID, peerID), &sum); err != nil {
				return err
			}
			var last chat.Message
			if err := getMessage(tx, sum.LastMessageID, &last); err != nil {
				return err
			}
			out = append(out, chat.Conversation{PeerID: peerID, LastMessage: &last, Unread: sum.Unread, UpdatedAt: sum.UpdatedAt})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b chat.Conversation) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.LastMessage.MessageID, a.LastMessage.MessageID)
	})
	return out, nil
}

// MarkRead sets userID's unread count with peerID to zero. Without a
// conversation there is nothing to read and nothing is written.
func (s *BoltStore) MarkRead(ctx context.Context, userID, peerID string) error {
	return s.update(ctx, "mark read", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSummaries)
		k := key(userID, peerID)
		var sum summary
		found, err := get(b, k, &sum)
		if err != nil || !found || sum.Unread == 0 {
			return err
		}
		sum.Unread = 0
		return put(b, k, sum)
	})
}
