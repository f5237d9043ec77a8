// Package client is minichat's Go client: it speaks the wire protocol
// (package protocol) over WebSocket and HTTP, and keeps the guarantees an
// app developer should not have to rebuild:
//
//   - Register, Login and the HTTP helpers (History, Conversations,
//     SearchUsers, Room);
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
//   - de-duplication of incoming messages by messageId;
//   - after a reconnect, catch-up of the private messages missed while
//     offline through history (`after`), delivered in order, oldest first,
//     through the same event stream as live ones;
//   - re-joining, after a reconnect, the rooms this client had joined, and
//     delivering a room update only when its version is higher than the
//     last one seen for that room.
//
// # Events
//
// Pushed frames reach the application through one channel, Events. Each
// value is one of the event types of this package (PrivateMessage,
// GroupMessage, MessageDeleted, AvatarUpdated, RoomUpdate, RoomNotice,
// RoomLost, Connected, Disconnected, CaughtUp); a type switch tells them
// apart. The channel is fed from an unbounded queue, so a slow reader never
// stalls the connection (and its heartbeat), but it must keep reading: the
// queue grows until it does. The channel is closed when the client stops:
// at once on Close (dropping what was not received), after the last queued
// event when the context given to Dial ends or the server refuses the
// token.
//
// # Sends and reconnects
//
// A request made while the client is reconnecting waits for the next
// connection, and one written on a connection that is lost before its
// answer comes is written again on the next one: callers see a slow answer,
// not an error. A send answered `rate-limited` is retried with the same id
// after a short pause, and one answered `internal` a few times, so a burst
// of sends (such as the resends after a reconnect) is paced rather than
// dropped. The context of each call bounds the whole wait; a call given up
// that way may still have been stored by the server, and catch-up delivers
// it like a message sent from another device.
//
// # Missed messages
//
// Catch-up fetches, for every conversation whose last message is newer than
// the point where the connection was lost, the messages after that point.
// The point is taken a little earlier than the newest message seen (see
// WithCatchUpWindow), because messages of different senders are not always
// pushed in the order of their ids; what is fetched twice is dropped by
// de-duplication. Group messages have no history: who was offline when one
// was sent never sees it, as the protocol says.
package client
