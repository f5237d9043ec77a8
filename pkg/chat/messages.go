package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// PrivateMessage is the private-message action.
func (s *Service) PrivateMessage(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	m, err := s.SendPrivate(ctx, id, call.ConnID, req.To, req.Content, req.ID)
	if err != nil {
		return nil, err
	}
	return []any{ack(req.ID, m)}, nil
}

// SendPrivate stores a text message from id to peerID and delivers it to
// every connection of the recipient and to the sender's connections but
// conn (the one that sent it, which gets the ack instead). Resending the
// same clientID returns the stored message and delivers nothing again.
func (s *Service) SendPrivate(ctx context.Context, id Identity, conn, peerID, content, clientID string) (Message, error) {
	if err := ValidText("content", content); err != nil {
		return Message{}, err
	}
	if err := ValidClientID(clientID); err != nil {
		return Message{}, err
	}
	m := Message{Kind: KindPrivate, To: peerID, Content: content}
	return s.storeAndDeliver(ctx, id, conn, m, clientID)
}

func (s *Service) storeAndDeliver(ctx context.Context, id Identity, conn string, m Message, clientID string) (Message, error) {
	if err := s.checkPeer(ctx, id, m.To); err != nil {
		return Message{}, err
	}
	if stored, resent, err := s.admit(ctx, id.UserID, clientID); err != nil || resent {
		return stored, err
	}
	m.MessageID, m.From, m.FromName, m.At = s.newID(), id.UserID, id.Username, s.clock()
	stored, created, err := s.store.SaveMessage(ctx, m, idemKey(id.UserID, clientID))
	if err != nil {
		return Message{}, fmt.Errorf("send: %w", err)
	}
	if created {
		if err := s.send(ctx, []string{stored.To, stored.From}, conn, true, s.render(ctx, stored)); err != nil {
			return Message{}, fmt.Errorf("send: %w", err)
		}
	}
	return stored, nil
}

// MessageDeleted is the message-deleted action.
func (s *Service) MessageDeleted(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := s.DeleteMessage(ctx, id, call.ConnID, req.MessageID); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID, MessageID: req.MessageID}}, nil
}

// DeleteMessage deletes a private message sent by id, with its file, and
// tells the other party (and the sender's other connections). Only the
// sender may: anyone else is forbidden, as the protocol says.
func (s *Service) DeleteMessage(ctx context.Context, id Identity, conn, messageID string) error {
	if err := ValidID("messageId", messageID); err != nil {
		return err
	}
	m, err := s.store.GetMessage(ctx, messageID)
	if errors.Is(err, ErrNotFound) || (err == nil && m.Kind == KindGroup) {
		return refuse(ErrNotFound, "no such message")
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if m.From != id.UserID {
		return refuse(ErrForbidden, "only the sender may delete a message")
	}
	if m.Deleted {
		return nil
	}
	if _, err := s.store.MarkDeleted(ctx, messageID); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if m.File != nil {
		if err := s.files.store.Delete(ctx, m.File.Key); err != nil {
			s.log.WarnContext(ctx, "delete file of deleted message", "err", err)
		}
	}
	toPeer := protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: m.MessageID, ChatWith: id.UserID}
	if err := s.send(ctx, []string{m.To}, conn, true, toPeer); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	toSelf := protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: m.MessageID, ChatWith: m.To}
	if err := s.send(ctx, []string{id.UserID}, conn, true, toSelf); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// History returns one page of id's conversation with peerID, newest first.
// Reading the newest page (no cursor) marks the conversation read; paging
// back and catching up in the background (after) do not, since the user
// has not seen those messages yet.
func (s *Service) History(ctx context.Context, id Identity, peerID string, p Page) (protocol.MessagePage, error) {
	if err := ValidID("peerId", peerID); err != nil {
		return protocol.MessagePage{}, err
	}
	if p.Before != "" && p.After != "" {
		return protocol.MessagePage{}, badInput("before", "use before or after, not both")
	}
	for field, v := range map[string]string{"before": p.Before, "after": p.After} {
		if v != "" {
			if err := ValidID(field, v); err != nil {
				return protocol.MessagePage{}, err
			}
		}
	}
	if p.Limit == 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return protocol.MessagePage{}, badInput("limit", "1 to 100")
	}
	if _, err := s.store.UserByID(ctx, peerID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return protocol.MessagePage{}, refuse(ErrNotFound, "no such user")
		}
		return protocol.MessagePage{}, fmt.Errorf("history: %w", err)
	}
	want := p.Limit
	p.Limit++ // one more tells whether another page follows
	msgs, err := s.store.ListMessages(ctx, ConversationID(id.UserID, peerID), p)
	if err != nil {
		return protocol.MessagePage{}, fmt.Errorf("history: %w", err)
	}
	page := protocol.MessagePage{Messages: []protocol.ChatMessage{}}
	more := len(msgs) > want
	if more {
		if p.After != "" {
			msgs = msgs[1:] // newest first: the extra one is the newest
		} else {
			msgs = msgs[:want]
		}
	}
	for _, m := range msgs {
		page.Messages = append(page.Messages, s.render(ctx, m))
	}
	if more {
		if p.After != "" {
			page.Next = msgs[0].MessageID
		} else {
			page.Next = msgs[len(msgs)-1].MessageID
		}
	}
	if p.Before == "" && p.After == "" {
		if err := s.store.MarkRead(ctx, id.UserID, peerID); err != nil {
			return protocol.MessagePage{}, fmt.Errorf("history: %w", err)
		}
	}
	return page, nil
}

// Conversations lists id's conversations with their peers, last message
// and unread count, most recent first.
func (s *Service) Conversations(ctx context.Context, id Identity) ([]protocol.ConversationInfo, error) {
	convs, err := s.store.Conversations(ctx, id.UserID)
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	users := map[string]User{}
	for i := 0; i < len(convs); i += 100 {
		ids := make([]string, 0, 100)
		for _, c := range convs[i:min(i+100, len(convs))] {
			ids = append(ids, c.PeerID)
		}
		got, err := s.store.UsersByID(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("conversations: %w", err)
		}
		for k, v := range got {
			users[k] = v
		}
	}
	out := make([]protocol.ConversationInfo, 0, len(convs))
	for _, c := range convs {
		u := users[c.PeerID]
		info := protocol.ConversationInfo{
			Peer:   protocol.UserInfo{UserID: c.PeerID, Username: u.Username, Avatar: u.Avatar},
			Unread: c.Unread,
		}
		if c.LastMessage != nil {
			lm := s.render(ctx, *c.LastMessage)
			info.LastMessage = &lm
		}
		out = append(out, info)
	}
	return out, nil
}
