package edge

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// Wire is the chat.Encoder of protocol frames: what the domain's events
// look like on the wire.
type Wire struct{}

var _ chat.Encoder = Wire{}

// Encode returns the JSON frame of ev.
func (Wire) Encode(ev chat.Event) ([]byte, error) {
	f, err := frameOf(ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(f)
}

func frameOf(ev chat.Event) (any, error) {
	switch e := ev.(type) {
	case chat.MessageEvent:
		return messageFrame(e.MessageView), nil
	case chat.RoomEvent:
		return updateFrame(e.Room, e.ClientID), nil
	case chat.NoticeEvent:
		return noticeFrame(e), nil
	case chat.DeletedEvent:
		return protocol.MessageDeleted{Type: protocol.TypeMessageDeleted, MessageID: e.MessageID, ChatWith: e.ChatWith}, nil
	case chat.AvatarEvent:
		return protocol.AvatarUpdated{Type: protocol.TypeAvatarUpdated, UserID: e.User.UserID, Avatar: e.User.Avatar, AvatarURL: avatarURL(e.User)}, nil
	case chat.PresenceEvent:
		return protocol.Presence{Type: protocol.TypePresence, PresenceInfo: presenceInfo(e.Presence)}, nil
	case chat.TypingEvent:
		return protocol.Typing{
			Type: protocol.TypeTyping, From: e.From.UserID, Username: e.From.Username,
			To: e.To, Room: e.Room, Epoch: e.Epoch, State: e.State,
		}, nil
	case chat.ReadEvent:
		return protocol.Read{Type: protocol.TypeRead, ChatWith: e.ChatWith, By: e.By, MessageID: e.MessageID, At: chat.FormatTime(e.At)}, nil
	}
	return nil, fmt.Errorf("edge: no frame for event %T", ev)
}

// messageFrame is the frame (and history item) of a message as shown.
func messageFrame(v chat.MessageView) protocol.ChatMessage {
	m := v.Message
	f := protocol.ChatMessage{Type: m.Kind, MessageID: m.MessageID, At: chat.FormatTime(m.At), Deleted: m.Deleted, Seq: m.Seq}
	switch m.Kind {
	case chat.KindGroup:
		f.Room, f.Epoch, f.Msg, f.Uname, f.UserID = m.Room, m.Epoch, m.Content, m.FromName, m.From
	default:
		f.From, f.FromName, f.To, f.Content = m.From, m.FromName, m.To, m.Content
		if m.File != nil && !m.Deleted {
			f.FileURL, f.FileName, f.FileType = v.FileURL, m.File.Name, m.File.Type
			f.FileSize, f.MessageType = m.File.Size, m.File.MessageType
		}
	}
	return f
}

// updateFrame is a room's seats. Seat i shows chat.SeatAvatars[i] while
// taken and chat.EmptySeatAvatar while free.
func updateFrame(r chat.Room, clientID string) protocol.Update {
	return protocol.Update{Type: protocol.TypeUpdate, ID: clientID, Room: r.Name, Epoch: r.Epoch, Version: r.Version, Seats: seats(r)}
}

func seats(r chat.Room) []protocol.Seat {
	out := make([]protocol.Seat, chat.SeatCount)
	for i, st := range r.Seats {
		out[i] = protocol.Seat{Seat: i, Avatar: chat.EmptySeatAvatar}
		if st.UserID != "" {
			uid, name := st.UserID, st.Username
			out[i].UserID, out[i].Username, out[i].Avatar = &uid, &name, chat.SeatAvatars[i]
			out[i].AvatarURL = avatarURL(chat.User{UserID: st.UserID, AvatarVersion: st.AvatarVersion})
		}
	}
	return out
}

func noticeFrame(e chat.NoticeEvent) protocol.Notice {
	text := e.User.Username + " entered the room"
	event := protocol.EventJoin
	if e.Kind == chat.NoticeLeave {
		text, event = e.User.Username+" left the room", protocol.EventLeave
	}
	return protocol.Notice{
		Type: protocol.TypeNotice, Room: e.Room, Epoch: e.Epoch, Event: event,
		UserID: e.User.UserID, Username: e.User.Username, Text: text,
	}
}

func presenceInfo(p chat.Presence) protocol.PresenceInfo {
	return protocol.PresenceInfo{UserID: p.UserID, Online: p.Online, LastSeen: optionalTime(p)}
}

func optionalTime(p chat.Presence) *string {
	if p.LastSeen.IsZero() {
		return nil
	}
	s := chat.FormatTime(p.LastSeen)
	return &s
}

// AvatarPath is the HTTP API route of image avatars.
const AvatarPath = "/api/users/{userId}/avatar"

// avatarURL is the stable link to a user's image avatar: a path of the
// HTTP API (clients resolve it against the API's base URL) that redirects
// to the image and changes with it; nil without an image avatar.
func avatarURL(u chat.User) *string {
	if u.AvatarVersion == "" {
		return nil
	}
	s := "/api/users/" + url.PathEscape(u.UserID) + "/avatar?v=" + url.QueryEscape(u.AvatarVersion)
	return &s
}

func userInfo(u chat.User) protocol.UserInfo {
	return protocol.UserInfo{UserID: u.UserID, Username: u.Username, Avatar: u.Avatar, AvatarURL: avatarURL(u)}
}

func ackFrame(clientID string, r chat.Receipt) protocol.Ack {
	a := protocol.Ack{Type: protocol.TypeAck, ID: clientID, MessageID: r.MessageID, Seq: r.Seq, Room: r.Room, Epoch: r.Epoch}
	if !r.At.IsZero() {
		a.At = chat.FormatTime(r.At)
	}
	return a
}

func optionalID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}
