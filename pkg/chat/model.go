package chat

import "time"

// SeatCount is the number of seats of every room.
const SeatCount = 8

// EmptySeatAvatar is the avatar an empty seat shows.
const EmptySeatAvatar = "🪑"

// SeatAvatars are the fixed emoji of seats 0..7: seat i always shows
// SeatAvatars[i] while a user sits on it.
var SeatAvatars = [SeatCount]string{"🦊", "🐼", "🐸", "🐙", "🦉", "🐯", "🐨", "🦄"}

// User is an account. Avatar is the text or emoji a user chose;
// AvatarKey, when set, names the image avatar in the Files store and
// AvatarVersion changes with every new image, so that links to it change.
type User struct {
	UserID        string
	Username      string
	PasswordHash  string
	Avatar        string
	AvatarKey     string
	AvatarVersion string
	CreatedAt     time.Time
}

// Identity is who a connection or an HTTP request speaks for. It always comes
// from a verified token, never from a message body.
type Identity struct {
	UserID   string
	Username string
}

// Target is one connection to push to, with the user it speaks for.
type Target struct {
	ConnID string
	UserID string
	// ExpiresAt tells when the connection was opened (ExpiresAt minus the
	// connection TTL): a push to a connection still inside its $connect
	// answers Gone although it is about to open.
	ExpiresAt time.Time
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
	// Siblings are the live connections of the same user, this one
	// included, as the store last knew them: where a message sent from
	// this connection is also shown.
	Siblings []Target
}

// Authenticated reports whether the connection speaks for a user.
func (c Connection) Authenticated() bool { return c.UserID != "" }

// Identity is whom the connection speaks for.
func (c Connection) Identity() Identity { return Identity{UserID: c.UserID, Username: c.Username} }

// Peer is a user with their live connections and presence.
type Peer struct {
	User
	// Conns are the user's live connections.
	Conns []Target
	// LastSeen is when the user was last online: their last connection's
	// end, or, while online, the start of their latest connection. Zero
	// when they never were.
	LastSeen time.Time
}

// Online reports whether the user has a live connection.
func (p Peer) Online() bool { return len(p.Conns) > 0 }

// Message kinds, as the `type` of the frame that announces them.
const (
	KindPrivate     = "private-message"
	KindPrivateFile = "private-file-message"
	KindGroup       = "group-message"
)

// Message is a stored chat message: private (To set) or group (Room set).
// Seq counts the messages of its conversation, or of its room within
// Epoch, from 1 without gaps; stores assign it with MessageID when they
// save the message.
type Message struct {
	MessageID string
	Seq       int64
	Kind      string
	From      string // sender userId
	FromName  string // sender username at send time
	To        string // recipient userId (private kinds)
	Room      string // room name (group kind)
	Epoch     string // the room's epoch (group kind)
	Content   string
	File      *FileRef
	At        time.Time
	Deleted   bool
	// ClientID is the sender's id of the send that stored the message,
	// its idempotency key; empty when the client gave none.
	ClientID string
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
	// Unread counts the peer's messages after ReadUpTo that are not
	// deleted.
	Unread int
	// ReadUpTo is the last message this user marked read, PeerReadUpTo the
	// peer's: message ids, empty for none.
	ReadUpTo     string
	PeerReadUpTo string
	UpdatedAt    time.Time
}

// Seat is one of a room's eight seats. An empty seat has an empty UserID.
type Seat struct {
	UserID        string
	Username      string
	AvatarVersion string
	// Conns are the seated user's live connections, where room frames go.
	Conns []Target
}

// Room is the shared state of a room: eight seats, a version that grows
// with every change of the seats, and the epoch: an id that changes when
// the room's records were deleted (its last member left) and it was
// created again. Version and message seq compare only within one epoch.
type Room struct {
	Name    string
	Epoch   string
	Version int64
	Seats   [SeatCount]Seat
	// Last is the room's latest group message in this epoch, as the store
	// read it (nil for none): where a send's seq follows on, and what a
	// resend is most likely to repeat.
	Last *Message
}

// LastSeq is the seq of the room's latest message, 0 for none.
func (r Room) LastSeq() int64 {
	if r.Last == nil {
		return 0
	}
	return r.Last.Seq
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

// SeatOfConn returns the seat whose user the connection speaks for, or -1.
func (r Room) SeatOfConn(connID string) int {
	for i, s := range r.Seats {
		for _, c := range s.Conns {
			if s.UserID != "" && c.ConnID == connID {
				return i
			}
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

// Targets returns every connection of everyone seated.
func (r Room) Targets() []Target {
	var ts []Target
	for _, s := range r.Seats {
		if s.UserID != "" {
			ts = append(ts, s.Conns...)
		}
	}
	return ts
}

// Empty reports whether no seat is taken.
func (r Room) Empty() bool { return len(r.Members()) == 0 }

// Page selects a page of messages. With After set the page holds the
// oldest Limit messages newer than After (to catch up); otherwise the
// newest Limit messages older than Before (or the newest of all). Either
// way the page is ordered newest first. Before and After are message ids.
type Page struct {
	Before string
	After  string
	Limit  int
}

// Presence is what a subscriber learns about a user.
type Presence struct {
	UserID   string
	Online   bool
	LastSeen time.Time
}
