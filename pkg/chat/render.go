package chat

import "github.com/minichatbar/minichat/pkg/protocol"

// RenderRoom returns the update frame of r. Seat i shows SeatAvatars[i]
// while taken and EmptySeatAvatar while free.
func RenderRoom(r Room, clientID string) protocol.Update {
	seats := make([]protocol.Seat, SeatCount)
	for i, st := range r.Seats {
		seats[i] = protocol.Seat{Seat: i, Avatar: EmptySeatAvatar}
		if st.UserID != "" {
			uid, name := st.UserID, st.Username
			seats[i].UserID, seats[i].Username, seats[i].Avatar = &uid, &name, SeatAvatars[i]
		}
	}
	return protocol.Update{Type: protocol.TypeUpdate, ID: clientID, Room: r.Name, Version: r.Version, Seats: seats}
}

// RenderMessage returns the frame (and history item) of m; fileURL is the
// freshly signed download link of a file message.
func RenderMessage(m Message, fileURL string) protocol.ChatMessage {
	f := protocol.ChatMessage{Type: m.Kind, MessageID: m.MessageID, At: FormatTime(m.At), Deleted: m.Deleted}
	switch m.Kind {
	case KindGroup:
		f.Room, f.Msg, f.Uname, f.UserID = m.Room, m.Content, m.FromName, m.From
	default:
		f.From, f.FromName, f.To, f.Content = m.From, m.FromName, m.To, m.Content
		if m.File != nil && !m.Deleted {
			f.FileURL, f.FileName, f.FileType = fileURL, m.File.Name, m.File.Type
			f.FileSize, f.MessageType = m.File.Size, m.File.MessageType
		}
	}
	return f
}

func ack(clientID string, m Message) protocol.Ack {
	return protocol.Ack{Type: protocol.TypeAck, ID: clientID, MessageID: m.MessageID, At: FormatTime(m.At)}
}
