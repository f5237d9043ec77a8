package chat

import "time"

// Event is what the service pushes to connections. The edge's Encoder
// turns each kind into its frame.
type Event interface{ isEvent() }

// MessageEvent announces a stored message, as it is shown.
type MessageEvent struct {
	MessageView
}

// RoomEvent carries a room's seats (the update frame). ClientID, when set,
// echoes the request it answers.
type RoomEvent struct {
	Room     Room
	ClientID string
}

// Notice events.
const (
	NoticeJoin  = "join"
	NoticeLeave = "leave"
)

// NoticeEvent tells a room that someone entered or left.
type NoticeEvent struct {
	Room, Epoch string
	Kind        string // NoticeJoin or NoticeLeave
	User        Identity
}

// DeletedEvent tells a party that the message was deleted; ChatWith is the
// other party of the conversation as the receiver sees it.
type DeletedEvent struct {
	MessageID string
	ChatWith  string
}

// AvatarEvent tells those who see a user that their avatar changed.
type AvatarEvent struct {
	User User
}

// PresenceEvent tells a subscriber that a user came online or went
// offline.
type PresenceEvent struct {
	Presence Presence
}

// Typing states.
const (
	TypingStart = "start"
	TypingStop  = "stop"
)

// TypingEvent relays that someone is typing to a peer (To) or in a room.
type TypingEvent struct {
	From        Identity
	To          string
	Room, Epoch string
	State       string
}

// ReadEvent tells a conversation's parties that By read it up to
// MessageID; ChatWith is the other party as the receiver sees it.
type ReadEvent struct {
	ChatWith, By, MessageID string
	At                      time.Time
}

func (MessageEvent) isEvent()  {}
func (RoomEvent) isEvent()     {}
func (NoticeEvent) isEvent()   {}
func (DeletedEvent) isEvent()  {}
func (AvatarEvent) isEvent()   {}
func (PresenceEvent) isEvent() {}
func (TypingEvent) isEvent()   {}
func (ReadEvent) isEvent()     {}
