package protocol

// Actions (client -> server, the `action` field; API Gateway route keys).
const (
	ActionLogin              = "login"
	ActionPing               = "ping"
	ActionPrivateMessage     = "private-message"
	ActionPrivateFileMessage = "private-file-message"
	ActionMessageDeleted     = "message-deleted"
	ActionAvatarUpdated      = "avatar-updated"
	ActionJoinRoom           = "joinroom"
	ActionLeaveRoom          = "leaveroom"
	ActionGroupMessage       = "group-message"
	// v1.1
	ActionTyping              = "typing"
	ActionRead                = "read"
	ActionSubscribePresence   = "subscribe-presence"
	ActionUnsubscribePresence = "unsubscribe-presence"
)

// Frame types (server -> client, the `type` field).
const (
	TypeLoginOK            = "login-ok"
	TypePong               = "pong"
	TypeAck                = "ack"
	TypeError              = "error"
	TypePrivateMessage     = "private-message"
	TypePrivateFileMessage = "private-file-message"
	TypeMessageDeleted     = "message-deleted"
	TypeAvatarUpdated      = "avatar-updated"
	TypeUpdate             = "update"
	TypeFull               = "full"
	TypeNotice             = "notice"
	TypeGroupMessage       = "group-message"
	// v1.1
	TypePresenceState = "presence-state"
	TypePresence      = "presence"
	TypeTyping        = "typing"
	TypeRead          = "read"
)

// Error codes, in error frames and HTTP error bodies.
const (
	CodeBadRequest    = "bad-request"
	CodeUnknownAction = "unknown-action"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not-found"
	CodeConflict      = "conflict"
	CodeTooLarge      = "too-large"
	CodeRateLimited   = "rate-limited"
	CodeInternal      = "internal"
)

// Notice events.
const (
	EventJoin  = "join"
	EventLeave = "leave"
)

// Request is every client frame: the action, the optional client id, and the
// fields of all actions (each action reads its own; unknown fields are
// ignored).
type Request struct {
	Action      string `json:"action"`
	ID          string `json:"id,omitempty"`
	Token       string `json:"token,omitempty"`
	To          string `json:"to,omitempty"`
	Content     string `json:"content,omitempty"`
	FileKey     string `json:"fileKey,omitempty"`
	FileName    string `json:"fileName,omitempty"`
	FileType    string `json:"fileType,omitempty"`
	MessageType string `json:"messageType,omitempty"`
	MessageID   string `json:"messageId,omitempty"`
	Avatar      string `json:"avatar,omitempty"`
	Room        string `json:"room,omitempty"`
	Msg         string `json:"msg,omitempty"`
	// v1.1
	UserIDs       []string `json:"userIds,omitempty"`
	State         string   `json:"state,omitempty"`
	PeerID        string   `json:"peerId,omitempty"`
	AvatarFileKey string   `json:"avatarFileKey,omitempty"`
	// LastSeq (private sends) is the seq of the newest message of the
	// conversation the client holds: a hint that saves the server a read.
	LastSeq *int64 `json:"lastSeq,omitempty"`
}

// LoginOK answers a successful login action.
type LoginOK struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	UserID   string `json:"userId"`
	Username string `json:"username"`
}

// Pong answers ping.
type Pong struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Ack acknowledges a request; sends carry the stored messageId, time and
// seq, and group sends the room and its epoch.
type Ack struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	At        string `json:"at,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	Room      string `json:"room,omitempty"`
	Epoch     string `json:"epoch,omitempty"`
}

// Error reports a refused request. Message is meant for people and never
// carries internal detail; RetryAfterMs, on rate-limited, is how long to
// wait before trying again.
type Error struct {
	Type         string `json:"type"`
	ID           string `json:"id,omitempty"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

// ChatMessage is a pushed private, file or group message, and an item of
// history. Fields that do not apply to its type are omitted.
type ChatMessage struct {
	Type        string `json:"type"`
	MessageID   string `json:"messageId"`
	From        string `json:"from,omitempty"`
	FromName    string `json:"fromName,omitempty"`
	To          string `json:"to,omitempty"`
	Content     string `json:"content,omitempty"`
	FileURL     string `json:"fileUrl,omitempty"`
	FileName    string `json:"fileName,omitempty"`
	FileType    string `json:"fileType,omitempty"`
	FileSize    int64  `json:"fileSize,omitempty"`
	MessageType string `json:"messageType,omitempty"`
	Room        string `json:"room,omitempty"`
	Msg         string `json:"msg,omitempty"`
	Uname       string `json:"uname,omitempty"`
	UserID      string `json:"userId,omitempty"`
	At          string `json:"at"`
	Deleted     bool   `json:"deleted,omitempty"`
	Seq         int64  `json:"seq"`
	Epoch       string `json:"epoch,omitempty"`
}

// MessageDeleted tells a party that a message was deleted by ChatWith.
type MessageDeleted struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	ChatWith  string `json:"chatWith"`
}

// AvatarUpdated tells users who share a room or a conversation with UserID
// that their avatar changed. AvatarURL is null without an image avatar.
type AvatarUpdated struct {
	Type      string  `json:"type"`
	UserID    string  `json:"userId"`
	Avatar    string  `json:"avatar"`
	AvatarURL *string `json:"avatarUrl"`
}

// Seat is one of a room's eight seats; UserID, Username and AvatarURL are
// null when it is empty.
type Seat struct {
	Seat      int     `json:"seat"`
	UserID    *string `json:"userId"`
	Username  *string `json:"username"`
	Avatar    string  `json:"avatar"`
	AvatarURL *string `json:"avatarUrl"`
}

// Update carries a room's seats; within one Epoch, clients keep the
// highest Version.
type Update struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Room    string `json:"room"`
	Epoch   string `json:"epoch"`
	Version int64  `json:"version"`
	Seats   []Seat `json:"seats"`
}

// Full answers a join when every seat is taken.
type Full struct {
	Type  string `json:"type"`
	ID    string `json:"id,omitempty"`
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
}

// Notice announces a join or a leave to a room.
type Notice struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Epoch    string `json:"epoch"`
	Event    string `json:"event"`
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Text     string `json:"text"`
}

// PresenceState answers subscribe-presence.
type PresenceState struct {
	Type  string         `json:"type"`
	ID    string         `json:"id,omitempty"`
	Users []PresenceInfo `json:"users"`
}

// PresenceInfo is one user's presence; LastSeen is null when they never
// were online.
type PresenceInfo struct {
	UserID   string  `json:"userId"`
	Online   bool    `json:"online"`
	LastSeen *string `json:"lastSeen"`
}

// Presence tells a subscriber that a user came online or went offline.
type Presence struct {
	Type string `json:"type"`
	PresenceInfo
}

// Typing relays a typing indicator; To or Room says where.
type Typing struct {
	Type     string `json:"type"`
	From     string `json:"from"`
	Username string `json:"username"`
	To       string `json:"to,omitempty"`
	Room     string `json:"room,omitempty"`
	Epoch    string `json:"epoch,omitempty"`
	State    string `json:"state"`
}

// Read tells a conversation's parties that By read it up to MessageID.
type Read struct {
	Type      string `json:"type"`
	ChatWith  string `json:"chatWith"`
	By        string `json:"by"`
	MessageID string `json:"messageId"`
	At        string `json:"at"`
}

// HTTP bodies.

// Credentials is the body of register and login.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Session answers register and login.
type Session struct {
	UserID    string `json:"userId"`
	Username  string `json:"username"`
	Token     string `json:"token"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// HTTPError is every HTTP error body.
type HTTPError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// UserInfo is a user as other users see them. AvatarURL is null without
// an image avatar.
type UserInfo struct {
	UserID    string  `json:"userId"`
	Username  string  `json:"username"`
	Avatar    string  `json:"avatar"`
	AvatarURL *string `json:"avatarUrl"`
}

// PeerInfo is the other party of a conversation, with their presence.
type PeerInfo struct {
	UserInfo
	Online   bool    `json:"online"`
	LastSeen *string `json:"lastSeen"`
}

// ConversationInfo is one item of GET /api/conversations. ReadUpTo and
// PeerReadUpTo are message ids, null for none.
type ConversationInfo struct {
	Peer         PeerInfo     `json:"peer"`
	LastMessage  *ChatMessage `json:"lastMessage"`
	Unread       int          `json:"unread"`
	ReadUpTo     *string      `json:"readUpTo"`
	PeerReadUpTo *string      `json:"peerReadUpTo"`
}

// MessagePage is one page of history; Next is the cursor of the following
// page, empty when there is none.
type MessagePage struct {
	Messages []ChatMessage `json:"messages"`
	Next     string        `json:"next,omitempty"`
}

// SendBody is the body of POST /api/conversations/{peerId}/messages.
type SendBody struct {
	Content string `json:"content"`
	ID      string `json:"id,omitempty"`
	LastSeq *int64 `json:"lastSeq,omitempty"`
}

// AvatarBody is the body of PUT /api/users/me/avatar.
type AvatarBody struct {
	Avatar string `json:"avatar"`
}

// RoomInfo answers GET /api/rooms/{room}.
type RoomInfo struct {
	Room    string `json:"room"`
	Epoch   string `json:"epoch"`
	Version int64  `json:"version"`
	Seats   []Seat `json:"seats"`
}

// FileUploadRequest is the body of POST /api/files; Purpose is "file" (the
// default, for a file message to To) or "avatar".
type FileUploadRequest struct {
	Purpose  string `json:"purpose,omitempty"`
	FileName string `json:"fileName"`
	FileType string `json:"fileType"`
	Size     int64  `json:"size"`
	To       string `json:"to,omitempty"`
}

// PresignedUpload says how to upload: a POST of a multipart form with
// Fields followed by the file (field "file"), or a request with Headers.
type PresignedUpload struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Fields  map[string]string `json:"fields,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// FileUpload answers POST /api/files: the key to send in
// private-file-message once the upload is done.
type FileUpload struct {
	FileKey   string          `json:"fileKey"`
	Upload    PresignedUpload `json:"upload"`
	ExpiresAt string          `json:"expiresAt"`
	MaxSize   int64           `json:"maxSize"`
}
