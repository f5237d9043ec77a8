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

// Ack acknowledges a request; sends carry the stored messageId and time.
type Ack struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	At        string `json:"at,omitempty"`
}

// Error reports a refused request. Message is meant for people and never
// carries internal detail.
type Error struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
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
}

// MessageDeleted tells a party that a message was deleted by ChatWith.
type MessageDeleted struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	ChatWith  string `json:"chatWith"`
}

// AvatarUpdated tells users who share a room or a conversation with UserID
// that their avatar changed.
type AvatarUpdated struct {
	Type   string `json:"type"`
	UserID string `json:"userId"`
	Avatar string `json:"avatar"`
}

// Seat is one of a room's eight seats; UserID and Username are null when
// it is empty.
type Seat struct {
	Seat     int     `json:"seat"`
	UserID   *string `json:"userId"`
	Username *string `json:"username"`
	Avatar   string  `json:"avatar"`
}

// Update carries a room's seats; clients keep the highest Version.
type Update struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Room    string `json:"room"`
	Version int64  `json:"version"`
	Seats   []Seat `json:"seats"`
}

// Full answers a join when every seat is taken.
type Full struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Room string `json:"room"`
}

// Notice announces a join or a leave to a room.
type Notice struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Event    string `json:"event"`
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Text     string `json:"text"`
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

// UserInfo is a user as other users see them.
type UserInfo struct {
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Avatar   string `json:"avatar"`
}

// ConversationInfo is one item of GET /api/conversations.
type ConversationInfo struct {
	Peer        UserInfo     `json:"peer"`
	LastMessage *ChatMessage `json:"lastMessage"`
	Unread      int          `json:"unread"`
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
}

// AvatarBody is the body of PUT /api/users/me/avatar.
type AvatarBody struct {
	Avatar string `json:"avatar"`
}

// RoomInfo answers GET /api/rooms/{room}.
type RoomInfo struct {
	Room    string `json:"room"`
	Version int64  `json:"version"`
	Seats   []Seat `json:"seats"`
}

// FileUploadRequest is the body of POST /api/files.
type FileUploadRequest struct {
	FileName string `json:"fileName"`
	FileType string `json:"fileType"`
	Size     int64  `json:"size"`
	To       string `json:"to"`
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
