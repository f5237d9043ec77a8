package chat

import (
	"context"
	"errors"
	"fmt"
)

// MessageView is a message as a client is shown it: with a freshly signed
// download link when it is a file.
type MessageView struct {
	Message
	FileURL string
}

// PrivateSend is a private text message to send.
type PrivateSend struct {
	To, Content string
	// ClientID is the client's id of the send, its idempotency key.
	ClientID string
	// LastSeq, when set, is the seq of the newest message of the
	// conversation the client holds (the protocol's lastSeq): a hint
	// that lets the store find the conversation's end without a read of
	// its own. A wrong one costs only that saving.
	LastSeq *int64
}

// Acked is told a send's receipt as soon as the message is durably stored,
// before it is delivered, so that the sender's ack goes out first. It may
// be nil.
type Acked func(Receipt)

// SendPrivate stores a text message and delivers it to every connection of
// the recipient and to the sender's other connections. Resending the same
// ClientID returns the stored message and delivers nothing again.
func (s *Service) SendPrivate(ctx context.Context, from Sender, in PrivateSend, acked Acked) (Message, error) {
	if err := ValidText("content", in.Content); err != nil {
		return Message{}, err
	}
	if err := ValidClientID(in.ClientID); err != nil {
		return Message{}, err
	}
	if err := ValidID("to", in.To); err != nil {
		return Message{}, err
	}
	if err := validLastSeq(in.LastSeq); err != nil {
		return Message{}, err
	}
	pc, err := s.privateContext(ctx, from, in.To, hint(in.LastSeq))
	if err != nil {
		return Message{}, err
	}
	m := Message{Kind: KindPrivate, To: in.To, Content: in.Content, ClientID: in.ClientID}
	return s.storeAndDeliver(ctx, from, m, pc, acked, nil)
}

// validLastSeq refuses a lastSeq no conversation can hold.
func validLastSeq(seq *int64) error {
	if seq != nil && *seq < 0 {
		return badInput("lastSeq", "the seq of a message held, 0 or more")
	}
	return nil
}

// hint is lastSeq as the store takes it: negative when not told.
func hint(seq *int64) int64 {
	if seq == nil {
		return -1
	}
	return *seq
}

// storeAndDeliver stores a private message from the sender, whose sender
// and recipient pc holds, and delivers it. admit, when set, replaces the
// send rate limit.
func (s *Service) storeAndDeliver(ctx context.Context, from Sender, m Message, pc privateContext, acked Acked, admit func(context.Context) error) (Message, error) {
	m.From, m.FromName, m.At = pc.sender.UserID, pc.sender.Username, s.clock()
	if admit == nil {
		admit = s.admitSend(m.From)
	}
	stored, created, err := s.store.SavePrivate(ctx, m, pc.tail, admit)
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) || errors.Is(err, ErrBadRequest) {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("send: %w", err)
	}
	if acked != nil {
		acked(receipt(stored))
	}
	if created {
		kind := "private"
		if stored.Kind == KindPrivateFile {
			kind = "file"
		}
		s.metrics.Count(ctx, MetricMessagesStored, 1, Label{Name: "Kind", Value: kind})
		targets := append(append([]Target(nil), pc.peer.Conns...), pc.sender.Siblings...)
		s.deliver(ctx, targets, from.ConnID, true, MessageEvent{s.view(ctx, stored)})
	}
	return stored, nil
}

type privateContext struct {
	sender Connection
	peer   Peer
	tail   Tail
}

// privateContext looks up the sender and the recipient of a private
// message, refusing a recipient that does not exist or is the sender;
// lastSeq is the client's hint of the conversation's end (negative: none).
func (s *Service) privateContext(ctx context.Context, from Sender, to string, lastSeq int64) (privateContext, error) {
	if err := ValidID("to", to); err != nil {
		return privateContext{}, err
	}
	sender, peer, tail, err := s.store.PrivateContext(ctx, from, to, lastSeq)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return privateContext{}, refuse(ErrUnauthorized, "log in first")
	case errors.Is(err, ErrNotFound):
		return privateContext{}, refuse(ErrNotFound, "no such user")
	case err != nil:
		return privateContext{}, fmt.Errorf("send: %w", err)
	}
	if to == sender.UserID {
		return privateContext{}, badInput("to", "cannot message yourself")
	}
	return privateContext{sender: sender, peer: peer, tail: tail}, nil
}

// DeleteMessage deletes a private message, with its file, and tells the
// other party and the sender's other connections. Only the sender may:
// anyone else is forbidden, as the protocol says.
func (s *Service) DeleteMessage(ctx context.Context, from Sender, messageID string) error {
	if err := ValidID("messageId", messageID); err != nil {
		return err
	}
	me, err := s.senderConnection(ctx, from)
	if err != nil {
		return err
	}
	m, err := s.store.DeleteMessage(ctx, me.UserID, messageID)
	switch {
	case errors.Is(err, ErrNotFound):
		return refuse(ErrNotFound, "no such message")
	case errors.Is(err, ErrForbidden):
		return refuse(ErrForbidden, "only the sender may delete a message")
	case err != nil:
		return fmt.Errorf("delete: %w", err)
	case m.Deleted:
		return nil
	}
	if m.File != nil {
		if err := need(s.files.store); err == nil {
			if err := s.files.store.Delete(ctx, m.File.Key); err != nil {
				s.log.WarnContext(ctx, "delete file of deleted message", "err", err)
			}
		}
	}
	peers, err := s.store.Peers(ctx, []string{m.To})
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	s.deliver(ctx, peers[m.To].Conns, from.ConnID, true, DeletedEvent{MessageID: m.MessageID, ChatWith: me.UserID})
	s.deliver(ctx, me.Siblings, from.ConnID, true, DeletedEvent{MessageID: m.MessageID, ChatWith: m.To})
	return nil
}

// senderConnection returns who sends, with their connections: the
// connection's record, or, for an HTTP request, the user's connections.
func (s *Service) senderConnection(ctx context.Context, from Sender) (Connection, error) {
	if from.ConnID != "" {
		return s.connection(ctx, from.ConnID)
	}
	peers, err := s.store.Peers(ctx, []string{from.Identity.UserID})
	if err != nil {
		return Connection{}, fmt.Errorf("sender: %w", err)
	}
	return Connection{UserID: from.Identity.UserID, Username: from.Identity.Username, Siblings: peers[from.Identity.UserID].Conns}, nil
}

// HistoryPage is one page of messages, newest first; Next is the cursor of
// the following page, empty when there is none.
type HistoryPage struct {
	Messages []MessageView
	Next     string
}

// History returns one page of id's conversation with peerID, newest first.
// Reading history changes no read marker: only MarkRead does.
func (s *Service) History(ctx context.Context, id Identity, peerID string, p Page) (HistoryPage, error) {
	if err := ValidID("peerId", peerID); err != nil {
		return HistoryPage{}, err
	}
	p, err := validPage(p)
	if err != nil {
		return HistoryPage{}, err
	}
	peers, err := s.store.Peers(ctx, []string{peerID})
	if err != nil {
		return HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	if _, ok := peers[peerID]; !ok {
		return HistoryPage{}, refuse(ErrNotFound, "no such user")
	}
	return s.page(ctx, p, func(p Page) ([]Message, error) { return s.store.ListMessages(ctx, id.UserID, peerID, p) })
}

func validPage(p Page) (Page, error) {
	if p.Before != "" && p.After != "" {
		return p, badInput("before", "use before or after, not both")
	}
	for field, v := range map[string]string{"before": p.Before, "after": p.After} {
		if v != "" {
			if err := ValidID(field, v); err != nil {
				return p, err
			}
		}
	}
	if p.Limit == 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return p, badInput("limit", "1 to 100")
	}
	return p, nil
}

// page reads one page more than asked, to tell whether another follows.
func (s *Service) page(ctx context.Context, p Page, list func(Page) ([]Message, error)) (HistoryPage, error) {
	want := p.Limit
	p.Limit++
	msgs, err := list(p)
	if errors.Is(err, ErrBadRequest) {
		return HistoryPage{}, err
	}
	if err != nil {
		return HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	page := HistoryPage{Messages: []MessageView{}}
	more := len(msgs) > want
	if more {
		if p.After != "" {
			msgs = msgs[1:] // newest first: the extra one is the newest
		} else {
			msgs = msgs[:want]
		}
	}
	for _, m := range msgs {
		page.Messages = append(page.Messages, s.view(ctx, m))
	}
	if more {
		if p.After != "" {
			page.Next = msgs[0].MessageID
		} else {
			page.Next = msgs[len(msgs)-1].MessageID
		}
	}
	return page, nil
}

// maxPeers is how many users one Peers or Targets call may name.
const maxPeers = 100

// ConversationView is one item of a user's conversation list.
type ConversationView struct {
	Peer         Peer
	LastMessage  *MessageView
	Unread       int
	ReadUpTo     string
	PeerReadUpTo string
}

// Conversations lists id's conversations with their peers (and whether
// they are online), last message, unread count and read markers, most
// recent first.
func (s *Service) Conversations(ctx context.Context, id Identity) ([]ConversationView, error) {
	convs, err := s.store.Conversations(ctx, id.UserID)
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	peers := map[string]Peer{}
	for i := 0; i < len(convs); i += maxPeers {
		ids := make([]string, 0, maxPeers)
		for _, c := range convs[i:min(i+maxPeers, len(convs))] {
			ids = append(ids, c.PeerID)
		}
		got, err := s.store.Peers(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("conversations: %w", err)
		}
		for k, v := range got {
			peers[k] = v
		}
	}
	now := s.clock()
	out := make([]ConversationView, 0, len(convs))
	for _, c := range convs {
		p, ok := peers[c.PeerID]
		if !ok {
			p = Peer{User: User{UserID: c.PeerID}}
		}
		p.LastSeen = lastSeen(p, now)
		v := ConversationView{Peer: p, Unread: c.Unread, ReadUpTo: c.ReadUpTo, PeerReadUpTo: c.PeerReadUpTo}
		if c.LastMessage != nil {
			lm := s.view(ctx, *c.LastMessage)
			v.LastMessage = &lm
		}
		out = append(out, v)
	}
	return out, nil
}

// MarkRead moves the caller's read marker in the conversation with peerID
// up to messageID, one of its messages, and tells the peer and the
// caller's other connections. A marker never moves back: an older message
// changes nothing and tells no one.
func (s *Service) MarkRead(ctx context.Context, call Call, peerID, messageID string) error {
	if err := ValidID("peerId", peerID); err != nil {
		return err
	}
	if err := ValidID("messageId", messageID); err != nil {
		return err
	}
	me, err := s.connection(ctx, call.ConnID)
	if err != nil {
		return err
	}
	_, moved, err := s.store.MarkRead(ctx, me.UserID, peerID, messageID)
	if errors.Is(err, ErrNotFound) {
		return refuse(ErrNotFound, "no such message in that conversation")
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !moved {
		return nil
	}
	at := s.clock()
	peers, err := s.store.Peers(ctx, []string{peerID})
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	s.deliver(ctx, peers[peerID].Conns, call.ConnID, true, ReadEvent{ChatWith: me.UserID, By: me.UserID, MessageID: messageID, At: at})
	s.deliver(ctx, me.Siblings, call.ConnID, true, ReadEvent{ChatWith: peerID, By: me.UserID, MessageID: messageID, At: at})
	return nil
}
