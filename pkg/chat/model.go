package chat

import "time"

// SeatCount is the number of seats of every room.
const SeatCount = 8

// EmptySeatAvatar is the avatar an empty seat shows.
const EmptySeatAvatar = "🪑"

// SeatAvatars are the fixed emoji of seats 0..7: seat i always shows
// SeatAvatars[i] while a user sits on it.
var SeatAvatars = [SeatCount]string{"🦊", "🐼", "🐸", "🐙", "🦉", "🐯", "🐨", "🦄"}

// User is an account.
type User struct {
	UserID       string
	Username     string
	PasswordHash string
	Avatar       string
	CreatedAt    time.Time
}

// Identity is who a connection or an HTTP request speaks for. It always comes
// from a verified token, never from a message body.
type Identity struct {
	UserID   string
	Username string
}

// Connection is one WebSocket connection. UserID is empty until the
// connection is authenticated (token at connect, or the login action).
type Connection struct {
	ConnID      string
	UserID      string
	Username    string
	ConnectedAt time.Time
	// ExpiresAt is a little over API Gateway's 2 h connection limit; stores
	// ignore connections past it, because a $disconnect may never come.
	ExpiresAt time.Time
}

// Authenticated reports whether the connection speaks for a user.
func (c Connection) Authenticated() bool { return c.UserID != "" }

// Message kinds, as the `type` of the frame that announces them.
const (
	KindPrivate     = "private-message"
	KindPrivateFile = "private-file-message"
	KindGroup       = "group-message"
)

// Message is a stored chat message: private (To set) or group (Room set).
type Message struct {
	MessageID string
	Kind      string
	From      string // sender userId
	FromName  string // sender username at send time
	To        string // recipient userId (private kinds)
	Room      string // room name (group kind)
	Content   string
	File      *FileRef
	At        time.Time
	Deleted   bool
}

// FileRef describes the object behind a file message.
type FileRef struct {
	Key         string
	Name        string
	Type        string
	Size        int64
	MessageType string // "image" or "file"
}

// ConversationID is the key both parties of a private conversation share.
func ConversationID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "#" + b
}

// Peer returns the other party of m as seen by userID.
func (m Message) Peer(userID string) string {
	if m.From == userID {
		return m.To
	}
	return m.From
}

// Conversation is one user's view of a private conversation.
type Conversation struct {
	PeerID      string
	LastMessage *Message
	Unread      int
	UpdatedAt   time.Time
}

// Seat is one of a room's eight seats. An empty seat has an empty UserID.
type Seat struct {
	UserID   string
	Username string
	Avatar   string
}

// Room is the shared state of a room: eight seats and a version that grows
// with every change of the seats.
type Room struct {
	Name    string
	Version int64
	Seats   [SeatCount]Seat
}

// SeatOf returns the seat index userID holds, or -1.
func (r Room) SeatOf(userID string) int {
	for i, s := range r.Seats {
		if s.UserID != "" && s.UserID == userID {
			return i
		}
	}
	return -1
}

// Members returns the user ids seated in the room.
func (r Room) Members() []string {
	var ids []string
	for _, s := range r.Seats {
		if s.UserID != "" {
			ids = append(ids, s.UserID)
		}
	}
	return ids
}

// Empty reports whether no seat is taken.
func (r Room) Empty() bool { return len(r.Members()) == 0 }
