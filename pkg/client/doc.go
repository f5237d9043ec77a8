// Package client is minichat's Go client: it speaks the wire protocol
// v1.1 (package protocol) over WebSocket and HTTP, and keeps the
// guarantees an app developer should not have to rebuild:
//
//   - Register, Login and the HTTP helpers (Conversations, History,
//     RoomHistory, SearchUsers, Room, and ResolveURL for the links they
//     give, such as avatarUrl);
//   - Dial with the token, then automatic reconnection with exponential
//     backoff and jitter until Close (or the context given to Dial ends);
//   - a heartbeat ping, which keeps the connection under API Gateway's idle
//     timeout and detects a dead socket when its pong does not come back;
//   - request/ack with client ids (UUIDv7) and timeouts: every request
//     method blocks until the server answers it, its context ends or the
//     client is closed;
//   - resending, after a reconnect, every request the server has not
//     answered, with the same id: sends are idempotent on the server, so a
//     message whose ack was lost is never stored twice, and its caller
//     still gets the ack;
//   - gap-free delivery: the messages of each conversation and of each
//     room come in seq order, once, whether they were pushed, fetched after
//     a lost push, or fetched after a reconnect (see Ordering and missed
//     messages);
//   - re-joining, after a reconnect, the rooms this client had joined, and
//     delivering a room update only when its version is higher than the
//     last one seen for that room in its epoch;
//   - subscribing again, after a reconnect, to the presence of the users
//     this client watches (SubscribePresence);
//   - typing indicators both ways: Typing repeats start every 3 s while
//     the user types, and Typing events end by themselves 6 s after the
//     last start;
//   - read receipts (MarkRead, Read events) and image avatars
//     (UploadAvatar: the upload request, the upload, the announcement);
//   - waiting as long as the server asks (retryAfterMs, Retry-After) before
//     trying a rate-limited request again.
//
// # Events
//
// Pushed frames reach the application through one channel, Events. Each
// value is one of the event types of this package (PrivateMessage,
// GroupMessage, MessageDeleted, AvatarUpdated, RoomUpdate, RoomNotice,
// RoomReset, RoomLost, Presence, Typing, Read, Connected, Disconnected,
// CaughtUp); a type switch tells them apart. The channel is fed from an
// unbounded queue, so a slow reader never stalls the connection (and its
// heartbeat), but it must keep reading: the queue grows until it does.
// The channel is closed when the client stops: at once on Close (dropping
// what was not received), after the last queued event when the context
// given to Dial ends or the server refuses the token.
//
// # Sends and reconnects
//
// A request made while the client is reconnecting waits for the next
// connection, and one written on a connection that is lost before its
// answer comes is written again on the next one: callers see a slow answer,
// not an error. A request answered `rate-limited` (it was not carried
// out) is written again with the same id once the retryAfterMs the server
// gave has passed, and a send answered `internal` a few times, so a burst
// of sends (such as the resends after a reconnect) is paced rather than
// dropped. HTTP calls with a token answered 429 are made again after their
// Retry-After, unless the caller's context would end first (then the 429
// is returned). The context of each call bounds the whole wait; a send
// given up that way may still have been stored by the server, and
// catch-up delivers it like a message sent from another device.
//
// # Ordering and missed messages
//
// Every stored message carries seq, which grows by exactly 1 per
// conversation (both directions) and per room within an epoch. The client
// holds, per conversation and per room, the highest seq up to which it
// delivered everything, and the id of that message:
//
//   - Dial first reads the seq of every conversation's last message (GET
//     /api/conversations), so that only what follows is ever fetched. A
//     conversation that had no message then is new: it is read from its
//     start when its first message shows a hole.
//   - A message whose seq is more than 1 past what is held shows a hole.
//     Pushes of concurrent senders can overtake one another, so the
//     messages after a hole wait a grace period (WithGapGrace, 1 s); then
//     exactly the missing range is fetched from history (after the held
//     message id, at most 100 a page) and everything is delivered in seq
//     order. The acks of this client's own private sends count as held
//     (the sending connection is not sent its own message).
//   - After every connection opens, the conversations whose last message
//     is past what is held are fetched the same way, and, once each room
//     is re-joined, the room's messages after the last one held; CaughtUp
//     ends that catch-up.
//   - A room's order starts when this client takes its seat: right after
//     the join, the newest seq of the room's history is read as its
//     baseline (the join's answer does not carry it). What was said before
//     is not delivered (RoomHistory reads it); a message stored in the
//     instant between the seat and that read still comes if pushed, but is
//     not fetched if its push is lost. A frame of a new epoch (the room was emptied and created again)
//     drops what was held for the room and comes after a RoomReset event.
//   - Messages fetched from history have CatchUp set. De-duplication by
//     messageId stays, for a message that is both pushed and fetched.
//   - Deleted messages keep their seq, so a deletion never shows as a
//     hole. A history item of a message seen earlier and deleted since
//     becomes MessageDeleted; but a deletion whose push was missed while
//     offline is not replayed, since catch-up fetches only messages past
//     what is held (History shows it deleted).
//   - A hole that history cannot fill (messages expired, a server bug) is
//     skipped, with a warning in the log, rather than stalling delivery.
//     While history cannot be read at all, the messages after a hole wait
//     (order comes first), and the fetch is tried again, less and less
//     often, up to the reconnect backoff's maximum.
//
// A lost push is seen only when a later message of that conversation or
// room arrives, or after the next reconnect; the server closes a
// connection whose push failed, so the reconnect is what usually tells.
//
// # Changes from the v1 client
//
// Catch-up no longer walks history back to a time point, so
// WithCatchUpWindow does nothing, and messages already delivered are not
// fetched again: a deletion missed while offline is not replayed. Dial
// makes an HTTP request before it connects and fails when that fails.
// CaughtUp follows every connection, the first one too. Group messages
// are fetched after a reconnect and carry CatchUp.
package client
