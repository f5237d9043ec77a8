package chat

import (
	"context"
	"time"
)

// Store is the persistence port: the five parts below, each with one job,
// implemented together by an adapter because one database holds them all.
// Every method costs a bounded number of requests to the backing database
// (whatever the number of users, rooms, connections or messages), and
// every write returns only once it is durable.
//
// The conformance suite in package storetest defines the behaviour exactly;
// every adapter must pass it.
type Store interface {
	Users
	Connections
	Conversations
	Rooms
	Subscriptions
}

// Users keeps accounts.
type Users interface {
	// CreateUser stores a new user; ErrConflict if the username is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user with that exact username, password hash
	// included, or ErrNotFound.
	UserByName(ctx context.Context, username string) (User, error)
	// Peers returns the users that exist among ids (at most 100), with
	// their live connections and presence.
	Peers(ctx context.Context, ids []string) (map[string]Peer, error)
	// SearchUsers returns up to limit users whose username starts with
	// prefix, ordered by username.
	SearchUsers(ctx context.Context, prefix string, limit int) ([]User, error)
	// SetAvatar changes a user's avatar: the text one, and the image one
	// when key is set (version then names the new image). It returns the
	// user as changed and the rooms they are seated in. ErrNotFound if
	// there is no user.
	SetAvatar(ctx context.Context, id Identity, avatar, key, version string) (u User, rooms []string, err error)
}

// Connections keeps WebSocket connections and who is online.
type Connections interface {
	// Connect records a new connection. When it speaks for a user it joins
	// the user's live connections; first reports that it is their only one
	// (the user came online).
	Connect(ctx context.Context, c Connection) (first bool, err error)
	// Authenticate makes an anonymous connection speak for id, as Connect
	// would have; ErrNotFound if there is no such connection, ErrForbidden
	// if it already speaks for someone else.
	Authenticate(ctx context.Context, connID string, id Identity) (c Connection, first bool, err error)
	// GetConnection returns a live connection, or ErrNotFound when there is
	// none or it has expired.
	GetConnection(ctx context.Context, connID string) (Connection, error)
	// Disconnect forgets a connection and returns what it was; last
	// reports that its user has no live connection left, in which case the
	// user is also unseated from every room (rooms emptied so are deleted,
	// as LeaveRoom does) and left says how each room is now. ErrNotFound if
	// there was no such connection.
	Disconnect(ctx context.Context, connID string) (c Connection, last bool, left []Left, err error)
	// Targets returns the live connections of users (at most 100) and of
	// everyone seated in rooms (at most 100 users and rooms together).
	Targets(ctx context.Context, users, rooms []string) ([]Target, error)
	// Forget drops connections of userID that are dead (a push found them
	// gone) even when their own records are already gone; it reports, and
	// does, the same as Disconnect for the user.
	Forget(ctx context.Context, userID string, connIDs []string) (last bool, left []Left, err error)
}

// Conversations keeps private messages and read markers.
type Conversations interface {
	// PrivateContext returns, together, who is sending and to whom: the
	// sender (from its connection when from.ConnID is set, else from its
	// profile) with the connections where its own copy goes, and the
	// recipient with theirs. lastSeq, when 1 or more, is the seq of the
	// newest message of the conversation the client says it holds (it
	// needs from.Identity to name the conversation): a store may read the
	// conversation's end there in the same request and return it as tail,
	// for SavePrivate. ErrNotFound (wrapped as a Refusal) if the recipient
	// does not exist; ErrUnauthorized if the connection speaks for nobody.
	PrivateContext(ctx context.Context, from Sender, to string, lastSeq int64) (sender Connection, peer Peer, tail Tail, err error)
	// SavePrivate stores m (From, FromName, To, Kind, Content or File, At,
	// ClientID) as the next message of its conversation, assigning
	// MessageID and Seq; tail is what PrivateContext read for this send
	// (the zero Tail for nothing). admit is called at most once, before
	// anything is stored (it is the send rate limit, and may run while the
	// store reads); when it fails nothing is stored and its error is
	// returned. A resend (m.ClientID used before by m.From) stores nothing
	// and returns the message stored the first time with created false,
	// whatever admit says; one found by what was already read is answered
	// without calling admit.
	SavePrivate(ctx context.Context, m Message, tail Tail, admit func(context.Context) error) (stored Message, created bool, err error)
	// ConversationPeers returns the users userID has a conversation with.
	ConversationPeers(ctx context.Context, userID string) ([]string, error)
	// DeleteMessage marks the private message messageID deleted, if
	// senderID sent it, and drops its content and file; it keeps its seq.
	// It returns the message as it was (Deleted already set when it was
	// deleted before, and nothing changed). ErrNotFound if no conversation
	// of senderID holds it; ErrForbidden (with the message) if the other
	// party sent it.
	DeleteMessage(ctx context.Context, senderID, messageID string) (Message, error)
	// ListMessages returns one page of the conversation of a and b, newest
	// first; ErrBadRequest for a cursor that is not one of its messages.
	ListMessages(ctx context.Context, a, b string, p Page) ([]Message, error)
	// Conversations returns userID's conversations, most recent first.
	Conversations(ctx context.Context, userID string) ([]Conversation, error)
	// MarkRead moves userID's read marker in the conversation with peerID
	// to messageID, one of its messages (else ErrNotFound); a marker never
	// moves back (moved false).
	MarkRead(ctx context.Context, userID, peerID, messageID string) (m Message, moved bool, err error)
}

// Rooms keeps rooms, their seats and their messages.
type Rooms interface {
	// GetRoom returns a room with its seats' connections and Last; a
	// room without members is returned empty with Version 0 and no epoch
	// (rooms are created by their first join).
	GetRoom(ctx context.Context, name string) (Room, error)
	// JoinRoom seats id on the first free seat, atomically with respect to
	// every other writer, and bumps the version; the seat carries the
	// user's live connections and avatar version. A room created by this
	// join gets a new epoch. If the user is already seated the room is
	// returned unchanged with changed false. ErrRoomFull if no seat is free.
	JoinRoom(ctx context.Context, name string, id Identity) (r Room, changed bool, err error)
	// LeaveRoom frees userID's seat and bumps the version; when the last
	// member leaves, the room's records are deleted (its next join starts
	// a new epoch). It returns the room after (with the epoch it had, even
	// when its records are gone) and the seat as it was before; changed is
	// false when the user held no seat.
	LeaveRoom(ctx context.Context, name, userID string) (r Room, freed Seat, changed bool, err error)
	// SaveGroup stores m (From, FromName, Room, Content, At, ClientID) as
	// the next message of r's epoch, assigning MessageID, Seq and Epoch;
	// r is the room as read for this send. admit and resends are as for
	// SavePrivate.
	SaveGroup(ctx context.Context, r Room, m Message, admit func(context.Context) error) (stored Message, created bool, err error)
	// RoomMessages returns one page of the group messages of the room's
	// epoch, newest first; ErrBadRequest for a cursor that is not one of
	// them.
	RoomMessages(ctx context.Context, room, epoch string, p Page) ([]Message, error)
}

// Left is a room a user left: the room as it is after (with the epoch it
// had, even when its records are gone) and the seat they freed.
type Left struct {
	Room  Room
	Freed Seat
}

// Subscriptions keeps who watches whose presence. A subscription lives
// with its connection and expires with it.
type Subscriptions interface {
	// Subscribe makes connection sub watch userIDs (at most 100) until
	// expires.
	Subscribe(ctx context.Context, sub string, userIDs []string, expires time.Time) error
	// Unsubscribe ends those subscriptions of sub.
	Unsubscribe(ctx context.Context, sub string, userIDs []string) error
	// Subscribers returns the connections watching userID.
	Subscribers(ctx context.Context, userID string) ([]string, error)
}

// Sender names who sends: a WebSocket connection (ConnID, with the
// Identity its $connect authorizer established, when it did), or an HTTP
// request's verified identity (Identity alone).
type Sender struct {
	ConnID   string
	Identity *Identity
}

// Tail is what a store read of the end of a conversation together with a
// send's sender and recipient (PrivateContext), handed back to SavePrivate
// so that storing needs no second read. What it holds is the store's own:
// the service passes it on untouched. The zero Tail is nothing read.
type Tail struct {
	Read any
}

// Limiter is the port of rate limits and counters: in memory in one
// process, shared through the database between Lambda instances.
//
// The conformance suite in package limitertest defines the behaviour.
type Limiter interface {
	// Allow takes one token from the bucket named key (refilled at rate
	// tokens per second up to burst) and reports whether there was one;
	// when not, retryAfter is how long until there will be.
	Allow(ctx context.Context, key string, rate float64, burst int, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// Hit adds one to the counter named key for the fixed window of length
	// window that contains now (windows start at multiples of window since
	// the Unix epoch) and returns the new count.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Hits returns the counter named key for the window that contains now,
	// without changing it (0 if it was never hit).
	Hits(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}

// Pusher is the port that sends frames to connections (the API Gateway
// Management API on AWS, the local gateway in process).
//
// The conformance suite in package pushertest defines the behaviour.
type Pusher interface {
	// Push sends one text frame; ErrGone if the connection does not exist.
	Push(ctx context.Context, connID string, data []byte) error
	// Disconnect closes a connection; ErrGone if it does not exist.
	Disconnect(ctx context.Context, connID string) error
	// Alive reports whether the connection is open.
	Alive(ctx context.Context, connID string) (bool, error)
}

// Encoder turns the events the service pushes into frames; the edge knows
// the wire format, the domain does not.
type Encoder interface {
	Encode(ev Event) ([]byte, error)
}

// Metrics counts what the service does (messages stored, deliveries,
// refusals) and times its fan-outs.
type Metrics interface {
	// Count adds n to the counter name, split by the label if it is set.
	Count(ctx context.Context, name string, n int, label Label)
	// Time records one duration of name.
	Time(ctx context.Context, name string, d time.Duration)
}

// Label is one dimension of a metric, e.g. {"Kind", "private"}.
type Label struct{ Name, Value string }

// Names of the service's metrics.
const (
	MetricMessagesStored    = "MessagesStored"    // label Kind: private, file, group
	MetricDeliveries        = "Deliveries"        // frames pushed to a connection
	MetricPushFailures      = "PushFailures"      // label Reason: gone, throttled, error
	MetricConnectionsGone   = "ConnectionsGone"   // dropped because a push found them gone
	MetricRateLimited       = "RateLimited"       // sends and other actions refused by a limit
	MetricSeatsFull         = "SeatsFull"         // joins answered full
	MetricConnectionsOpened = "ConnectionsOpened" // $connect accepted
	MetricConnectionsClosed = "ConnectionsClosed" // $disconnect (or a dead connection dropped)
	MetricFanout            = "FanoutMs"          // time to push one event to every target
)

// Tokens issues and verifies access tokens.
type Tokens interface {
	// Issue returns a signed token for id and when it expires.
	Issue(id Identity) (token string, expiresAt time.Time, err error)
	// Verify returns the identity a token speaks for, or an error wrapping
	// ErrUnauthorized.
	Verify(token string) (Identity, error)
}

// Passwords hashes and checks passwords.
type Passwords interface {
	Hash(password string) (string, error)
	// Verify reports whether password matches hash, in time that does not
	// depend on where they differ.
	Verify(hash, password string) bool
}

// Files is the object-storage port: S3 on AWS, an embedded S3 locally.
// Bytes never pass through the service: clients upload with a presigned
// request and download with a presigned link.
//
// The conformance suite in package filestest defines the behaviour.
type Files interface {
	// PresignUpload returns a presigned POST that stores exactly size bytes
	// of contentType at key, to be downloaded as fileName, with meta as user
	// metadata, until ttl passes.
	PresignUpload(ctx context.Context, key, contentType, fileName string, size int64, meta map[string]string, ttl time.Duration) (Upload, error)
	// Inspect returns what is really stored at key: its size, content type,
	// user metadata and up to n first bytes; ErrNotFound if nothing is.
	Inspect(ctx context.Context, key string, n int) (FileInfo, error)
	// Copy copies the object at src to dst.
	Copy(ctx context.Context, src, dst string) error
	// Delete removes the object at key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// PresignDownload returns a link that downloads key as fileName until
	// ttl passes.
	PresignDownload(ctx context.Context, key, fileName string, ttl time.Duration) (string, error)
}

// Upload is a presigned upload request.
type Upload struct {
	Method    string
	URL       string
	Fields    map[string]string
	Headers   map[string]string
	ExpiresAt time.Time
}

// FileInfo is what an object really is, whatever was declared.
type FileInfo struct {
	Size        int64
	ContentType string
	Metadata    map[string]string
	Head        []byte
}
