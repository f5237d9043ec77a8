package client

import (
	"sync"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// Event is one value of the Events channel: one of the types below.
type Event interface {
	event()
}

// PrivateMessage is a private or private file message (Type tells which)
// sent to this user, or sent by this user from another connection (From is
// then this user). Messages of one conversation come in seq order. CatchUp
// is set when it was fetched from history (its push was lost, or it was
// sent while this client was offline) rather than pushed.
type PrivateMessage struct {
	protocol.ChatMessage
	CatchUp bool
}

// GroupMessage is a message to a room this user sits in, this user's own
// included. Messages of one room come in seq order within its epoch;
// CatchUp is set when it was fetched from the room's history.
type GroupMessage struct {
	protocol.ChatMessage
	CatchUp bool
}

// MessageDeleted tells that a private message was deleted; ChatWith is the
// other party of its conversation. It also comes from catch-up, for a
// message seen earlier and deleted while offline.
type MessageDeleted struct {
	protocol.MessageDeleted
}

// AvatarUpdated tells that a user who shares a room or a conversation with
// this user changed avatar.
type AvatarUpdated struct {
	protocol.AvatarUpdated
}

// RoomUpdate carries a room's seats; it is delivered only when its version
// is higher than that of the last update delivered for the room.
type RoomUpdate struct {
	protocol.Update
}

// RoomNotice announces a join or a leave.
type RoomNotice struct {
	protocol.Notice
}

// RoomReset tells that a room was emptied and created again (its epoch
// changed to Epoch): the messages and seats of the old epoch are gone, the
// client dropped what it held for the room, and versions and seqs start
// again. It comes before the first event of the new epoch.
type RoomReset struct {
	Room  string
	Epoch string
}

// RoomLost tells that a room could not be re-joined after a reconnect (Err
// is ErrFull when someone took the seat meanwhile); the client no longer
// counts itself in it.
type RoomLost struct {
	Room string
	Err  error
}

// Connected tells that a connection is up; Reconnect is false for the
// first one.
type Connected struct {
	Reconnect bool
}

// Disconnected tells that the connection was lost. The client reconnects
// unless Final is set, which it is when the server refused the token (Err
// says why) or the client is closing.
type Disconnected struct {
	Err   error
	Final bool
}

// CaughtUp ends the catch-up that follows every connection (the first
// one too, which fetches what was stored while Dial connected): the
// conversations whose last message was newer than what the client held,
// and the rooms it re-joined, were fetched from history, and Messages
// messages (not counting deletions) were delivered as CatchUp before it,
// with those a lost push made the client fetch meanwhile. Err is set when
// part of it failed; what is still missing is fetched on the next message
// of that conversation or room that shows the hole, or after the next
// reconnect.
type CaughtUp struct {
	Messages int
	Err      error
}

// Presence tells whether a user this client subscribed to (see
// SubscribePresence) is online. It comes when they go online or offline,
// and after every reconnect, for each subscribed user, with their state
// then.
type Presence struct {
	protocol.PresenceInfo
}

// Typing tells that a user started or stopped typing to this user (To) or
// in a room (Room). It comes once per start: repeated starts only keep the
// indicator alive. A start not followed, within TypingExpiry, by another
// start ends with a Typing of State "stop" and Expired set; so does a
// message from that user there, without Expired.
type Typing struct {
	protocol.Typing
	Expired bool
}

// Read tells that By read the conversation with ChatWith up to and
// including MessageID: the peer read this user's messages (By is the
// peer), or this user read the peer's on another connection (By is this
// user).
type Read struct {
	protocol.Read
}

func (PrivateMessage) event() {}
func (GroupMessage) event()   {}
func (MessageDeleted) event() {}
func (AvatarUpdated) event()  {}
func (RoomUpdate) event()     {}
func (RoomNotice) event()     {}
func (RoomReset) event()      {}
func (RoomLost) event()       {}
func (Connected) event()      {}
func (Disconnected) event()   {}
func (CaughtUp) event()       {}
func (Presence) event()       {}
func (Typing) event()         {}
func (Read) event()           {}

// eventQueue feeds out from an unbounded queue, so that the reader of the
// socket never waits for the application.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	wake   chan struct{}
	stop   chan struct{}
	once   sync.Once
	drain  bool // stop once the queue is empty
	out    chan Event
	pumped chan struct{}
}

func newEventQueue() *eventQueue {
	q := &eventQueue{
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		out:    make(chan Event),
		pumped: make(chan struct{}),
	}
	go q.pump()
	return q
}

func (q *eventQueue) push(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, evs...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) pump() {
	defer close(q.pumped)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			drain := q.drain
			q.mu.Unlock()
			if drain {
				return
			}
			select {
			case <-q.wake:
				continue
			case <-q.stop:
				return
			}
		}
		ev := q.items[0]
		q.mu.Unlock()
		select {
		case q.out <- ev:
			q.mu.Lock()
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
		case <-q.stop:
			return
		}
	}
}

// finish ends the channel once the events already queued are received, so
// that the reason of a stop the application did not ask for reaches it.
func (q *eventQueue) finish() {
	q.mu.Lock()
	q.drain = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close stops the pump; events not yet received are dropped.
func (q *eventQueue) close() {
	q.once.Do(func() { close(q.stop) })
	<-q.pumped
}
