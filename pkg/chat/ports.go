package chat

import (
	"context"
	"time"
)

// Store is the persistence port. Every method costs O(1) requests to the
// backing database (a bounded number, whatever the number of users, rooms or
// connections), and every write returns only once it is durable.
//
// The conformance suite in package storetest defines the behaviour exactly;
// every adapter must pass it.
type Store interface {
	// CreateUser stores a new user; ErrConflict if the username is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user with that exact username, or ErrNotFound.
	UserByName(ctx context.Context, username string) (User, error)
	// UserByID returns the user, or ErrNotFound.
	UserByID(ctx context.Context, userID string) (User, error)
	// UsersByID returns the users that exist among ids (at most 100 ids).
	UsersByID(ctx context.Context, ids []string) (map[string]User, error)
	// SearchUsers returns up to limit users whose username starts with
	// prefix, ordered by username.
	SearchUsers(ctx context.Context, prefix string, limit int) ([]User, error)
	// SetAvatar changes a user's avatar; ErrNotFound if there is no user.
	SetAvatar(ctx context.Context, userID, avatar string) error

	// PutConnection creates or replaces a connection.
	PutConnection(ctx context.Context, c Connection) error
	// GetConnection returns a live connection, or ErrNotFound when there is
	// none or it has expired (ExpiresAt in the past).
	GetConnection(ctx context.Context, connID string) (Connection, error)
	// DeleteConnection removes a connection and returns what it was;
	// ErrNotFound if there was none.
	DeleteConnection(ctx context.Context, connID string) (Connection, error)
	// ConnectionsOf returns the live, authenticated connections of the
	// given users (at most SeatCount+1 users per call).
	ConnectionsOf(ctx context.Context, userIDs ...string) ([]Connection, error)

	// SaveMessage stores m atomically with its idempotency record and, for
	// private messages, both parties' conversation summaries (the
	// recipient's unread count grows by one). When idemKey is not empty and
	// was used before, nothing is written and the message stored the first
	// time is returned with created false.
	SaveMessage(ctx context.Context, m Message, idemKey string) (stored Message, created bool, err error)
	// IdempotentMessage returns the message stored with idemKey, or
	// ErrNotFound.
	IdempotentMessage(ctx context.Context, idemKey string) (Message, error)
	// GetMessage returns a message by id, or ErrNotFound.
	GetMessage(ctx context.Context, messageID string) (Message, error)
	// MarkDeleted marks a message deleted and drops its content and file;
	// conversation summaries that show it show it deleted. ErrNotFound if
	// there is no such message.
	MarkDeleted(ctx context.Context, messageID string) (Message, error)
	// ListMessages returns one page of a private conversation, newest first.
	ListMessages(ctx context.Context, conversationID string, p Page) ([]Message, error)
	// Conversations returns userID's conversations, most recent first.
	Conversations(ctx context.Context, userID string) ([]Conversation, error)
	// MarkRead sets userID's unread count with peerID to zero.
	MarkRead(ctx context.Context, userID, peerID string) error

	// GetRoom returns a room; a room without members is returned empty with
	// Version 0 (rooms are created by their first join).
	GetRoom(ctx context.Context, name string) (Room, error)
	// JoinRoom seats s.UserID on the first free seat, atomically with
	// respect to every other writer, and bumps the version. If the user is
	// already seated the room is returned unchanged with changed false.
	// ErrRoomFull if no seat is free.
	JoinRoom(ctx context.Context, name string, s Seat) (r Room, changed bool, err error)
	// LeaveRoom frees userID's seat and bumps the version; when the last
	// member leaves, the room's records are deleted. changed is false when
	// the user held no seat.
	LeaveRoom(ctx context.Context, name, userID string) (r Room, changed bool, err error)
	// RoomsOf returns the names of the rooms where userID holds a seat.
	RoomsOf(ctx context.Context, userID string) ([]string, error)

	// Allow takes one token from the bucket named key (refilled at rate
	// tokens per second up to burst) and reports whether there was one.
	// Buckets are shared by every caller of the same store.
	Allow(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, error)
	// Hit adds one to the counter named key for the fixed window of length
	// window that contains now (windows start at multiples of window since
	// the Unix epoch) and returns the new count. Counters are shared like
	// buckets and may be forgotten once their window has passed.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Hits returns the counter named key for the window that contains now,
	// without changing it (0 if it was never hit).
	Hits(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}

// Page selects a page of messages by message id. With After set the page
// holds the oldest Limit messages newer than After (to catch up); otherwise
// the newest Limit messages older than Before (or the newest of all).
// Either way the page is ordered newest first.
type Page struct {
	Before string
	After  string
	Limit  int
}

// Pusher is the port that sends frames to connections (the API Gateway
// Management API on AWS and under the local gateway).
type Pusher interface {
	// Push sends one text frame; ErrGone if the connection does not exist.
	Push(ctx context.Context, connID string, data []byte) error
	// Disconnect closes a connection; ErrGone if it does not exist.
	Disconnect(ctx context.Context, connID string) error
}

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
