package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// indexRec is one user's entry of a conversation: whom it is with, and how
// far they read it.
type indexRec struct {
	PeerID  string
	ReadSeq int64  `json:",omitempty"`
	ReadMid string `json:",omitempty"`
}

// locator says where a message lives: its bucket, key prefix and seq.
type locator struct {
	Room   bool `json:",omitempty"`
	Prefix string
	Seq    int64
}

// errStaleRoom refuses a group message to a room that was emptied and
// created again since the sender looked at it.
var errStaleRoom = &chat.Refusal{Kind: chat.ErrForbidden, Reason: "take a seat in the room first"}

// save stores m, unless m.ClientID was used before by m.From: a
// resend, which returns the first message. admit runs between the resend
// check and the write; a concurrent duplicate that passed the check is
// caught again in the write transaction.
// where assigns the message its Seq (and Epoch) inside the write
// transaction and returns the key prefix of its messages.
func (s *BoltStore) save(ctx context.Context, m chat.Message, admit func(context.Context) error, where func(tx *bolt.Tx, m *chat.Message) (string, error)) (chat.Message, bool, error) {
	idem := key(m.From, m.ClientID)
	resent := func(tx *bolt.Tx) (chat.Message, bool, error) {
		if m.ClientID == "" {
			return chat.Message{}, false, nil
		}
		id := tx.Bucket(bucketIdempotency).Get(idem)
		if id == nil {
			return chat.Message{}, false, nil
		}
		first, err := messageByID(tx, string(id))
		return first, err == nil, err
	}
	var (
		first chat.Message
		found bool
	)
	err := s.view(ctx, "save message", func(tx *bolt.Tx) error {
		var err error
		first, found, err = resent(tx)
		return err
	})
	if err != nil {
		return chat.Message{}, false, err
	}
	if found {
		return first, false, nil
	}
	if err := admit(ctx); err != nil {
		return chat.Message{}, false, err
	}
	var stored chat.Message
	var refused error
	err = s.update(ctx, "save message", func(tx *bolt.Tx) error {
		var err error
		refused = nil
		first, found, err = resent(tx)
		if err != nil || found {
			return err
		}
		stored = m
		stored.MessageID = uuid.Must(uuid.NewV7()).String()
		prefix, err := where(tx, &stored)
		if errors.Is(err, errStaleRoom) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		b := bucketConvMessages
		if stored.Kind == chat.KindGroup {
			b = bucketRoomMessages
		}
		data, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode message: %w", err)
		}
		if err := tx.Bucket(b).Put(seqKey(prefix, stored.Seq), data); err != nil {
			return err
		}
		if stored.Kind == chat.KindGroup {
			setLast(tx, prefix, data, stored)
		}
		loc := locator{Room: stored.Kind == chat.KindGroup, Prefix: prefix, Seq: stored.Seq}
		if err := put(tx.Bucket(bucketMessageIndex), []byte(stored.MessageID), loc); err != nil {
			return err
		}
		if m.ClientID != "" {
			return tx.Bucket(bucketIdempotency).Put(idem, []byte(stored.MessageID))
		}
		return nil
	})
	switch {
	case err != nil:
		return chat.Message{}, false, err
	case refused != nil:
		return chat.Message{}, false, refused
	case found:
		return first, false, nil
	}
	return stored, true, nil
}

// setLast makes m the cached latest message of prefix. The service's
// messages (UTC, no monotonic reading) are cached as they are, since
// decoding data would give the same; any other time is left to decode.
func setLast(tx *bolt.Tx, prefix string, data []byte, m chat.Message) {
	if at := m.At; at.Location() != time.UTC || at != at.Round(0) {
		setHot(tx, hotLast, prefix, data)
		return
	}
	if m.File != nil {
		f := *m.File // the cache's own: readers share it
		m.File = &f
	}
	setHotDecoded(tx, hotLast, prefix, data, m)
}

func jsonDecode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func messageByID(tx *bolt.Tx, messageID string) (chat.Message, error) {
	var loc locator
	found, err := get(tx.Bucket(bucketMessageIndex), []byte(messageID), &loc)
	if err != nil {
		return chat.Message{}, err
	}
	if !found {
		return chat.Message{}, fmt.Errorf("boltstore: message %q: %w", messageID, chat.ErrNotFound)
	}
	return messageAt(tx, loc)
}

func messageAt(tx *bolt.Tx, loc locator) (chat.Message, error) {
	b := bucketConvMessages
	if loc.Room {
		b = bucketRoomMessages
	}
	var m chat.Message
	found, err := get(tx.Bucket(b), seqKey(loc.Prefix, loc.Seq), &m)
	if err != nil {
		return chat.Message{}, err
	}
	if !found {
		return chat.Message{}, fmt.Errorf("boltstore: message at %d: %w", loc.Seq, chat.ErrNotFound)
	}
	return m, nil
}

// PrivateContext reads the sender and the recipient from the hot records
// (hot.go): no transaction on the path of a message. It reads no tail:
// finding the end of a conversation is a seek in the same write
// transaction that stores the message.
func (s *BoltStore) PrivateContext(ctx context.Context, from chat.Sender, to string, _ int64) (chat.Connection, chat.Peer, chat.Tail, error) {
	var (
		sender  chat.Connection
		peer    chat.Peer
		problem error
		now     = s.now()
	)
	err := s.read(ctx, "private context", func(rd reader) error {
		switch {
		case from.ConnID == "":
			u, found, err := rd.user(from.Identity.UserID)
			if err != nil {
				return err
			}
			sender = chat.Connection{UserID: from.Identity.UserID, Username: from.Identity.Username}
			if found {
				sender.Siblings = u.live(now)
			}
		default:
			rec, found, err := rd.conn(from.ConnID)
			if err != nil {
				return err
			}
			if !found || rec.UserID == "" || !rec.ExpiresAt.After(now) {
				problem = chat.ErrUnauthorized
				return nil
			}
			sender = rec.connection()
			u, found, err := rd.user(rec.UserID)
			if err != nil {
				return err
			}
			if found {
				sender.Siblings = u.live(now)
			}
		}
		u, found, err := rd.user(to)
		if err != nil {
			return err
		}
		if !found {
			problem = chat.ErrNotFound
			return nil
		}
		peer = u.peer(now)
		return nil
	})
	if err != nil {
		return chat.Connection{}, chat.Peer{}, chat.Tail{}, err
	}
	if problem != nil {
		return chat.Connection{}, chat.Peer{}, chat.Tail{}, fmt.Errorf("boltstore: private context: %w", problem)
	}
	return sender, peer, chat.Tail{}, nil
}

// SavePrivate stores a private message as the next of its conversation;
// the conversation's first message enters it in both parties' lists.
func (s *BoltStore) SavePrivate(ctx context.Context, m chat.Message, _ chat.Tail, admit func(context.Context) error) (chat.Message, bool, error) {
	conv := chat.ConversationID(m.From, m.To)
	return s.save(ctx, m, admit, func(tx *bolt.Tx, m *chat.Message) (string, error) {
		m.Seq = lastSeq(tx.Bucket(bucketConvMessages), conv) + 1
		if m.Seq == 1 {
			for _, side := range [][2]string{{m.From, m.To}, {m.To, m.From}} {
				if err := put(tx.Bucket(bucketIndex), key(side[0], side[1]), indexRec{PeerID: side[1]}); err != nil {
					return "", err
				}
			}
		}
		return conv, nil
	})
}

// ConversationPeers lists whom userID has conversations with.
func (s *BoltStore) ConversationPeers(ctx context.Context, userID string) ([]string, error) {
	var out []string
	err := s.view(ctx, "conversation peers", func(tx *bolt.Tx) error {
		out = suffixes(tx.Bucket(bucketIndex), userID)
		return nil
	})
	return out, err
}

// DeleteMessage drops a message's content and file, keeping its seq, if
// senderID sent it.
func (s *BoltStore) DeleteMessage(ctx context.Context, senderID, messageID string) (chat.Message, error) {
	var (
		old     chat.Message
		problem error
	)
	err := s.update(ctx, "delete message", func(tx *bolt.Tx) error {
		problem = nil
		var loc locator
		found, err := get(tx.Bucket(bucketMessageIndex), []byte(messageID), &loc)
		if err != nil {
			return err
		}
		if found && !loc.Room {
			old, err = messageAt(tx, loc)
			if err != nil {
				return err
			}
		}
		switch {
		case !found || loc.Room || (old.From != senderID && old.To != senderID):
			problem = chat.ErrNotFound
			return nil
		case old.From != senderID:
			problem = chat.ErrForbidden
			return nil
		case old.Deleted:
			return nil
		}
		m := old
		m.Deleted, m.Content, m.File = true, "", nil
		return put(tx.Bucket(bucketConvMessages), seqKey(loc.Prefix, loc.Seq), m)
	})
	if err != nil {
		return chat.Message{}, err
	}
	if problem != nil {
		return old, fmt.Errorf("boltstore: message %q: %w", messageID, problem)
	}
	return old, nil
}

// ListMessages returns a page of the conversation of a and b.
func (s *BoltStore) ListMessages(ctx context.Context, a, b string, p chat.Page) ([]chat.Message, error) {
	return s.list(ctx, bucketConvMessages, chat.ConversationID(a, b), p)
}

// list returns a page of the messages under prefix, newest first. A cursor
// must be a message under prefix.
func (s *BoltStore) list(ctx context.Context, bucket []byte, prefix string, p chat.Page) ([]chat.Message, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = chat.DefaultPageLimit
	}
	var out []chat.Message
	var badCursor bool
	err := s.view(ctx, "list messages", func(tx *bolt.Tx) error {
		cursorSeq := func(id string) (int64, bool, error) {
			var loc locator
			found, err := get(tx.Bucket(bucketMessageIndex), []byte(id), &loc)
			if err != nil || !found || loc.Prefix != prefix {
				return 0, false, err
			}
			return loc.Seq, true, nil
		}
		all := key(prefix, "")
		c := tx.Bucket(bucket).Cursor()
		decode := func(v []byte) error {
			var m chat.Message
			if err := jsonDecode(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		}
		switch {
		case p.After != "":
			seq, ok, err := cursorSeq(p.After)
			if err != nil || !ok {
				badCursor = !ok
				return err
			}
			for k, v := c.Seek(seqKey(prefix, seq+1)); k != nil && bytes.HasPrefix(k, all) && len(out) < limit; k, v = c.Next() {
				if err := decode(v); err != nil {
					return err
				}
			}
			slices.Reverse(out)
		default:
			var k, v []byte
			if p.Before != "" {
				seq, ok, err := cursorSeq(p.Before)
				if err != nil || !ok {
					badCursor = !ok
					return err
				}
				c.Seek(seqKey(prefix, seq))
				k, v = c.Prev()
			} else {
				k, v = c.Seek(seqKey(prefix, 1<<62))
				if k == nil {
					k, v = c.Last()
				} else {
					k, v = c.Prev()
				}
			}
			for ; k != nil && bytes.HasPrefix(k, all) && len(out) < limit; k, v = c.Prev() {
				if err := decode(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if badCursor {
		return nil, &chat.InputError{Field: "cursor", Rule: "before and after name a message of this history"}
	}
	return out, nil
}

// Conversations returns userID's conversations, most recent first, with
// the unread count from their read marker.
func (s *BoltStore) Conversations(ctx context.Context, userID string) ([]chat.Conversation, error) {
	var out []chat.Conversation
	err := s.view(ctx, "conversations", func(tx *bolt.Tx) error {
		out = nil
		idx := tx.Bucket(bucketIndex)
		msgs := tx.Bucket(bucketConvMessages)
		for _, peer := range suffixes(idx, userID) {
			var mine, theirs indexRec
			if _, err := get(idx, key(userID, peer), &mine); err != nil {
				return err
			}
			if _, err := get(idx, key(peer, userID), &theirs); err != nil {
				return err
			}
			conv := chat.ConversationID(userID, peer)
			c := chat.Conversation{PeerID: peer, ReadUpTo: mine.ReadMid, PeerReadUpTo: theirs.ReadMid}
			all := key(conv, "")
			cur := msgs.Cursor()
			for k, v := cur.Seek(seqKey(conv, mine.ReadSeq+1)); k != nil && bytes.HasPrefix(k, all); k, v = cur.Next() {
				var m chat.Message
				if err := jsonDecode(v, &m); err != nil {
					return err
				}
				if m.From == peer && !m.Deleted {
					c.Unread++
				}
			}
			k, v := cur.Seek(seqKey(conv, 1<<62))
			if k == nil {
				k, v = cur.Last()
			} else {
				k, v = cur.Prev()
			}
			if k != nil && bytes.HasPrefix(k, all) {
				var m chat.Message
				if err := jsonDecode(v, &m); err != nil {
					return err
				}
				c.LastMessage, c.UpdatedAt = &m, m.At
			}
			out = append(out, c)
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
		return strings.Compare(b.PeerID, a.PeerID)
	})
	return out, nil
}

// MarkRead moves userID's marker forward to messageID.
func (s *BoltStore) MarkRead(ctx context.Context, userID, peerID, messageID string) (chat.Message, bool, error) {
	var (
		m            chat.Message
		found, moved bool
	)
	err := s.update(ctx, "mark read", func(tx *bolt.Tx) error {
		moved, found = false, false
		var loc locator
		ok, err := get(tx.Bucket(bucketMessageIndex), []byte(messageID), &loc)
		if err != nil || !ok || loc.Room || loc.Prefix != chat.ConversationID(userID, peerID) {
			return err
		}
		if m, err = messageAt(tx, loc); err != nil {
			return err
		}
		idx := tx.Bucket(bucketIndex)
		var rec indexRec
		if found, err = get(idx, key(userID, peerID), &rec); err != nil || !found || m.Seq <= rec.ReadSeq {
			return err
		}
		rec.ReadSeq, rec.ReadMid, moved = m.Seq, m.MessageID, true
		return put(idx, key(userID, peerID), rec)
	})
	if err != nil {
		return chat.Message{}, false, err
	}
	if !found {
		return chat.Message{}, false, fmt.Errorf("boltstore: message %q of that conversation: %w", messageID, chat.ErrNotFound)
	}
	return m, moved, nil
}

// Subscribe records sub's watch of userIDs.
func (s *BoltStore) Subscribe(ctx context.Context, sub string, userIDs []string, expires time.Time) error {
	exp := binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano()))
	return s.update(ctx, "subscribe", func(tx *bolt.Tx) error {
		for _, id := range userIDs {
			if err := tx.Bucket(bucketSubs).Put(key(id, sub), exp); err != nil {
				return err
			}
		}
		return nil
	})
}

// Unsubscribe ends sub's watch of userIDs.
func (s *BoltStore) Unsubscribe(ctx context.Context, sub string, userIDs []string) error {
	return s.update(ctx, "unsubscribe", func(tx *bolt.Tx) error {
		for _, id := range userIDs {
			if err := tx.Bucket(bucketSubs).Delete(key(id, sub)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Subscribers returns the live subscriptions to userID.
func (s *BoltStore) Subscribers(ctx context.Context, userID string) ([]string, error) {
	var out []string
	now := s.now().UnixNano()
	err := s.view(ctx, "subscribers", func(tx *bolt.Tx) error {
		out = nil
		p := key(userID, "")
		c := tx.Bucket(bucketSubs).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now {
				out = append(out, string(k[len(p):]))
			}
		}
		return nil
	})
	return out, err
}
