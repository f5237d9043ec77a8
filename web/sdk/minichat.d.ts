// Type declarations of minichat.js, the minichat JavaScript SDK.
// The wire protocol behind them is docs/protocol.md (v1.1).

/** The WebSocket subprotocol offered next to the token: `["minichat.v1", token]`. */
export const SUBPROTOCOL: 'minichat.v1';

/**
 * backoffDelay is the wait in milliseconds before reconnect attempt
 * `attempt` (0-based): `min(maxMs, initialMs * 2^attempt)`, of which the
 * second half is random ("equal jitter").
 */
export function backoffDelay(
  attempt: number,
  options?: { initialMs?: number; maxMs?: number; random?: () => number },
): number;

/**
 * Error codes: the server's (`bad-request`, `unknown-action`, `unauthorized`,
 * `forbidden`, `not-found`, `conflict`, `too-large`, `rate-limited`,
 * `internal`) and the SDK's own: `timeout` (no reply in time), `network`
 * (fetch or WebSocket failed), `disconnected` (the connection dropped before
 * the reply of a request that is not resent), `closed` (close() was
 * called), `not-connected` (a WebSocket request before connect()),
 * `bad-frame` (the server sent something that is not JSON), `upload-failed`
 * (the file store refused an upload), `gap` (history lacked messages that a
 * conversation's or room's seq says exist; they were skipped),
 * `http-<status>` (an HTTP error without a JSON body).
 */
export type ErrorCode =
  | 'bad-request' | 'unknown-action' | 'unauthorized' | 'forbidden' | 'not-found'
  | 'conflict' | 'too-large' | 'rate-limited' | 'internal'
  | 'timeout' | 'network' | 'disconnected' | 'closed' | 'not-connected' | 'bad-frame' | 'upload-failed' | 'gap'
  | `http-${number}`;

/** MiniChatError is every error the SDK throws, rejects with or emits. */
export class MiniChatError extends Error {
  /** The protocol's or the SDK's error code. */
  code: ErrorCode;
  /** The HTTP status, for errors of the HTTP API. */
  status?: number;
  /** The server's `error` frame, for errors of WebSocket requests. */
  frame?: ErrorFrame;
  /**
   * On `rate-limited`: how long the server asked to wait (WebSocket
   * `retryAfterMs`, or HTTP `Retry-After`, which a cross-origin page sees
   * only when the API exposes it).
   */
  retryAfterMs?: number;
}

/** Session is what register and login return; keep it to log in again without a password. */
export interface Session {
  userId: string;
  username: string;
  /** A JWT; the SDK sends it on the WebSocket handshake and as `Authorization: Bearer`. */
  token: string;
  /** RFC 3339; after it the SDK refuses to connect with `unauthorized`. */
  expiresAt?: string;
}

/** UserInfo is a user as others see them; `avatar` is `""` until set. */
export interface UserInfo {
  userId: string;
  username: string;
  /** The text avatar (an emoji); kept when an image is set. */
  avatar: string;
  /**
   * The image avatar: a path of the HTTP API (`/api/users/{id}/avatar?v=…`,
   * changes with the image, needs no token); null without one. Show it with
   * `avatarSrc(user)`, and the text avatar when it is null or fails to load.
   */
  avatarUrl?: string | null;
}

/** Presence is whether a user is online; `lastSeen` (RFC 3339) is when they last were (now while online), null if never. */
export interface Presence {
  userId: string;
  online: boolean;
  lastSeen: string | null;
}

/** PrivateMessage is a pushed `private-message` frame, or a history item of that type. */
export interface PrivateMessage {
  type: 'private-message';
  /** Server-made UUIDv7: sorts by creation time. */
  messageId: string;
  from: string;
  /** The sender's username when the message was sent. */
  fromName?: string;
  to: string;
  /** Absent when `deleted`. */
  content?: string;
  /** RFC 3339 UTC with milliseconds. */
  at: string;
  /** The message's place in its conversation: 1, 2, 3… in both directions, without gaps. */
  seq: number;
  /** Only in history: the sender deleted it (it keeps its seq). */
  deleted?: boolean;
  /**
   * Set by the SDK on messages it fetched itself: missed while offline, or
   * filling a hole in the seqs that arrived live.
   */
  catchUp?: boolean;
}

/** FileMessage is a pushed `private-file-message` frame, or a history item of that type. */
export interface FileMessage {
  type: 'private-file-message';
  messageId: string;
  from: string;
  fromName?: string;
  to: string;
  /** A short-lived download link. */
  fileUrl?: string;
  fileName?: string;
  fileType?: string;
  fileSize?: number;
  messageType?: 'image' | 'file';
  at: string;
  seq: number;
  deleted?: boolean;
  catchUp?: boolean;
}

/** GroupMessage is a pushed `group-message` frame, or an item of room history. */
export interface GroupMessage {
  type: 'group-message';
  room: string;
  /** The room's epoch: changes when the room was emptied and created again. */
  epoch: string;
  messageId: string;
  /** The message's place in the room within its epoch: 1, 2, 3… without gaps. */
  seq: number;
  msg: string;
  /** The sender's username. */
  uname: string;
  userId: string;
  at: string;
  /** Set by the SDK on messages it fetched itself: the room's history on joining, or what a reconnect or a hole missed. */
  catchUp?: boolean;
}

/** Seat is one of a room's 8 seats; a free seat has null user fields and avatar "🪑". */
export interface Seat {
  seat: number;
  userId: string | null;
  username: string | null;
  /** The seat's own emoji (seat i always shows emoji i), or "🪑" when free. */
  avatar: string;
  /** The seated user's image avatar (see UserInfo), null when none or free. */
  avatarUrl?: string | null;
}

/** Update carries a room's seats; `version` grows with every change. */
export interface Update {
  type: 'update';
  /** Present on the reply to this client's own joinRoom. */
  id?: string;
  room: string;
  epoch: string;
  /** Compared only within one epoch. */
  version: number;
  seats: Seat[];
}

/** Full answers a join when all 8 seats are taken. */
export interface Full {
  type: 'full';
  id?: string;
  room: string;
  epoch: string;
}

/** Notice announces a join or a leave to a room. */
export interface Notice {
  type: 'notice';
  room: string;
  epoch: string;
  event: 'join' | 'leave';
  userId: string;
  username: string;
  /** Human-readable, e.g. "bob entered the room". */
  text: string;
}

/** MessageDeleted tells that a private message was deleted; `chatWith` is the conversation's peer. */
export interface MessageDeleted {
  type: 'message-deleted';
  messageId: string;
  chatWith: string;
}

/** AvatarUpdated tells that a user set a new avatar (text or image). */
export interface AvatarUpdated {
  type: 'avatar-updated';
  userId: string;
  avatar: string;
  avatarUrl: string | null;
}

/** Typing tells that someone is typing to this user (`to`) or in a room (`room`), or stopped. */
export interface Typing {
  type: 'typing';
  from: string;
  username: string;
  to?: string;
  room?: string;
  state: 'start' | 'stop';
  /** Set on a `stop` the SDK made because no `start` came for typingShowMs. */
  expired?: boolean;
}

/**
 * Read tells that `by` read the conversation up to `messageId`. When the
 * peer read ours, `chatWith` is the peer (= `by`); when this user read on
 * another device, `by` is this user and `chatWith` the peer.
 */
export interface Read {
  type: 'read';
  chatWith: string;
  by: string;
  messageId: string;
  at: string;
}

/** RoomReset tells that a room this client sits in was emptied and created again (a new epoch): what was shown of it is of another room. */
export interface RoomReset {
  room: string;
  epoch: string;
  previousEpoch: string;
}

/** Ack answers a request; sends carry the stored message's id, time and seq (group sends the room and epoch too). */
export interface Ack {
  type: 'ack';
  id: string;
  messageId?: string;
  at?: string;
  seq?: number;
  room?: string;
  epoch?: string;
}

/** Pong answers ping. */
export interface Pong {
  type: 'pong';
  id?: string;
}

/** ErrorFrame is the server's answer to a refused request. */
export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: string;
  message: string;
  /** On `rate-limited`: how long to wait before trying again. */
  retryAfterMs?: number;
}

/** MessagePage is one page of a conversation, newest first; `next` is the cursor of the following page. */
export interface MessagePage {
  messages: Array<PrivateMessage | FileMessage>;
  next?: string;
}

/** RoomMessagePage is one page of a room's history (its current epoch), newest first. */
export interface RoomMessagePage {
  messages: GroupMessage[];
  next?: string;
}

/** Conversation is one item of conversations(). */
export interface Conversation {
  peer: UserInfo & { online: boolean; lastSeen: string | null };
  lastMessage: PrivateMessage | FileMessage | null;
  /** The peer's messages after `readUpTo` that are not deleted. */
  unread: number;
  /** This user's read marker: a messageId, or null. */
  readUpTo: string | null;
  /** The peer's read marker: this user's messages up to it were read. */
  peerReadUpTo: string | null;
}

/** RoomInfo is a room's seats as fetched over HTTP. */
export interface RoomInfo {
  room: string;
  epoch: string;
  version: number;
  seats: Seat[];
}

/**
 * Status of the connection: `idle` before connect(), `connecting` until the
 * first connection is up, `open` while connected (rooms re-joined, queued
 * requests sent), `reconnecting` after a drop, `closed` after close() or a
 * refused session.
 */
export type Status = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events and the argument their listeners get. */
export interface EventMap {
  /** A private message from someone, or sent by this user on another device. Not emitted for this client's own sends (their Promise resolves instead). */
  'private-message': PrivateMessage;
  /** A file or image message, as 'private-message'. */
  'private-file-message': FileMessage;
  /** A message in a room this user sits in, this client's own included (at its ack). */
  'group-message': GroupMessage;
  /** A room's seats changed; stale (lower-version, same epoch) updates are never emitted. */
  update: Update;
  /** A room this client sits in started over in a new epoch. */
  'room-reset': RoomReset;
  /** A watched user's presence: on subscribing (and re-subscribing after a reconnect) and whenever it changes. */
  presence: Presence;
  /** Someone started or stopped typing to this user or in a room; a `start` lasts until its `stop`. */
  typing: Typing;
  /** A read marker moved. */
  read: Read;
  /**
   * The conversation list, as read on every (re)connect: the baseline of the
   * first connect, then after each catch-up (presence, markers and unread
   * counts may have changed meanwhile).
   */
  conversations: Conversation[];
  /** Someone joined or left a room this user sits in. */
  notice: Notice;
  /** A join (or a re-join after a reconnect) found all 8 seats taken. */
  full: Full;
  'message-deleted': MessageDeleted;
  'avatar-updated': AvatarUpdated;
  /** The connection status changed. */
  status: Status;
  /** A reconnect was scheduled in `delayMs`. */
  retry: { attempt: number; delayMs: number };
  /**
   * Something went wrong outside any request: an `error` frame without a
   * pending request, a heartbeat timeout, a failed catch-up, an HTTP 401
   * (session expired: log in again).
   */
  error: MiniChatError;
}

export interface MiniChatOptions {
  /**
   * Base URL of the HTTP API, to which `/api/...` is appended: the stack's
   * `HttpApiURL`, or `""` (the default) for the page's own origin. A trailing
   * `/api` is ignored.
   */
  httpUrl?: string;
  /** The WebSocket API's URL: `ws://127.0.0.1:8080/ws` locally, the stack's `WebSocketURL` on AWS. */
  wsUrl: string;
  /** fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** WebSocket class to use (default: the global one). */
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket };
  /** A session kept from an earlier login. */
  session?: Session;
  /**
   * Where the token travels when connecting: `subprotocol` (default; keeps it
   * out of URLs and access logs), `query` (`?token=`), or `login` (a first
   * `login` frame).
   */
  tokenIn?: 'subprotocol' | 'query' | 'login';
  /** Interval of `ping`s; default 60 000 (API Gateway closes a connection idle for 10 minutes). */
  heartbeatMs?: number;
  /** How long after a ping a silent socket is declared dead and replaced; default 20 000. */
  pongTimeoutMs?: number;
  /** How long a connection attempt may take before it is abandoned and retried; default 15 000. */
  connectTimeoutMs?: number;
  /** How long a request written to an open socket waits for its reply; default 15 000. */
  requestTimeoutMs?: number;
  /** Reconnect backoff; defaults 500 ms doubling up to 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Random source of the jitter (tests make it fixed). */
  random?: () => number;
  /** First wait before a rate-limited send is retried (grows linearly); default 1000. */
  rateLimitRetryMs?: number;
  /** How many times a rate-limited send is retried; default 5. */
  rateLimitRetries?: number;
  /** Follow the browser's `online`/`offline` events when available; default true. */
  watchNetwork?: boolean;
  /** How long a hole in the seqs of live messages may fill by itself (reordered pushes) before it is fetched; default 1000. */
  gapGraceMs?: number;
  /** How many of a room's latest messages are fetched on a first join; default 50 (at most 100). */
  roomHistoryLimit?: number;
  /** How often typing() repeats `start` while the user types; default 3000. */
  typingRepeatMs?: number;
  /** How long someone's `start` shows without a newer one; default 6000. */
  typingShowMs?: number;
}

/**
 * MiniChat is a client of one minichat server for one user.
 *
 * The connection it keeps:
 * - reconnects by itself with exponential backoff and jitter, and at once
 *   when the browser comes back online;
 * - sends a `ping` every `heartbeatMs` and replaces a socket that stops
 *   answering;
 * - after every reconnect re-joins the rooms it sits in, resends every
 *   request that got no reply (sends keep their id, so the server stores
 *   and delivers each message once), subscribes to presence again, and then
 *   fetches what each conversation lacks through the history API (`after`
 *   the last message it holds without a hole below), emitting it with
 *   `catchUp: true`;
 * - follows `seq` per conversation and per room (within an epoch): a live
 *   message whose seq skips some waits `gapGraceMs` for the late ones, then
 *   exactly the missing range is fetched;
 * - fetches a room's history after each (re)join: the latest page on a
 *   first join or in a new epoch, else what was said since;
 * - emits each message once, whether it came live, by catch-up or through
 *   history(): live messages are emitted at once, before a hole below them
 *   is filled, so order messages by `messageId` (or `seq`).
 */
export class MiniChat {
  constructor(options: MiniChatOptions);

  /** The current session, or null. */
  readonly session: Session | null;
  /** The logged-in user's id, or null. */
  readonly userId: string | null;
  /** The connection status. */
  readonly status: Status;
  /** Rooms this client sits in, re-joined after a reconnect. */
  readonly rooms: string[];

  /** register creates an account and keeps its session (409 `conflict` if the name is taken). */
  register(username: string, password: string): Promise<Session>;
  /** login keeps the session of an existing account (401 `unauthorized` on a wrong password, 429 `rate-limited` after too many). */
  login(username: string, password: string): Promise<Session>;
  /** setSession switches to a kept session (or none); switching users forgets everything seen. */
  setSession(session: Session | null): void;
  /** logout closes the connection and forgets the session. */
  logout(): void;

  /**
   * connect opens the WebSocket connection and keeps it open until close().
   * Resolves once connected; rejects (`closed`) if close() comes first, for
   * example because the session was refused.
   */
  connect(): Promise<void>;
  /** close closes the connection for good and rejects every pending request with `closed`. */
  close(): void;

  /** on adds a listener and returns the function that removes it. */
  on<K extends keyof EventMap>(type: K, listener: (event: EventMap[K]) => void): () => void;

  /**
   * sendPrivate sends a text message; resolves with the ack (messageId, at).
   * Pass `id` to retry a send that failed yourself: the server stores a
   * message once per id.
   */
  sendPrivate(to: string, content: string, options?: { id?: string }): Promise<Ack>;
  /** sendGroup sends a message to a room this user sits in (`forbidden` otherwise). */
  sendGroup(room: string, msg: string, options?: { id?: string }): Promise<Ack>;
  /**
   * sendFile sends a file or image to `to`: it asks POST /api/files for a
   * presigned upload of exactly `file.size` bytes, uploads the file there,
   * then sends `private-file-message` and resolves with its ack. Types:
   * image/png, image/jpeg, image/gif, image/webp, application/pdf,
   * text/plain, application/zip; at most 10 MiB. `file` is a Blob or File
   * in browsers; in React Native pass `{uri, name, type, size}`.
   * `messageType` is `image` for image types, `file` otherwise.
   */
  sendFile(
    to: string,
    file: Blob | { uri: string; name: string; type: string; size: number },
    options?: { fileName?: string; fileType?: string; id?: string },
  ): Promise<Ack>;
  /** deleteMessage deletes a private message this user sent (`forbidden` for others'). */
  deleteMessage(messageId: string): Promise<Ack>;
  /** setAvatar sets this user's text avatar, typically one emoji (an image avatar, once set, is shown instead). */
  setAvatar(avatar: string): Promise<Ack>;
  /**
   * setAvatarImage makes an image this user's avatar: POST /api/files
   * (purpose `avatar`; PNG, JPEG, GIF or WebP, at most 1 MiB), the upload,
   * then `avatar-updated {avatarFileKey}`. Resolves with this user as others
   * now see them, `avatarUrl` included.
   */
  setAvatarImage(
    file: Blob | { uri: string; name: string; type: string; size: number },
    options?: { fileName?: string; fileType?: string },
  ): Promise<UserInfo>;
  /** avatarSrc is the URL to load a user's image avatar from (avatarUrl resolved against httpUrl), or null. */
  avatarSrc(user: { avatarUrl?: string | null } | null | undefined): string | null;
  /**
   * markRead moves this user's read marker in the conversation with
   * `peerId` up to `messageId` (one of that conversation's). A marker never
   * moves back: a messageId at or below the known one sends nothing.
   */
  markRead(peerId: string, messageId: string): Promise<void>;
  /**
   * subscribePresence watches users (any number; sent 100 a frame) for as
   * long as the client lives, across reconnects. Resolves with their
   * presence now; `presence` events follow. Watched users cost no frame.
   */
  subscribePresence(userIds: string[]): Promise<Presence[]>;
  /** unsubscribePresence stops watching users. */
  unsubscribePresence(userIds: string[]): Promise<void>;
  /** presence is the last known presence of a watched user, or null. */
  presence(userId: string): Presence | null;
  /**
   * typing tells a conversation (`{to}`) or a room (`{room}`) that this user
   * is typing. Call it on every keystroke: `start` goes out at most every
   * typingRepeatMs. Sends nothing while disconnected.
   */
  typing(where: { to: string } | { room: string }): void;
  /** stopTyping sends `stop` if a `start` went out; after a send it is not needed (receivers drop the indicator on the message). */
  stopTyping(where: { to: string } | { room: string }): void;
  /** joinRoom takes a seat (and keeps it across reconnects); resolves with the seats, or `full`. */
  joinRoom(room: string): Promise<Update | Full>;
  /** leaveRoom gives the seat back. */
  leaveRoom(room: string): Promise<Ack>;
  /** ping asks the server for a pong. */
  ping(): Promise<Pong>;

  /**
   * history returns one page of the conversation with `peer`, newest first.
   * No cursor: the newest `limit` (default 50, at most 100); `before`: the
   * page older than that messageId (pass the previous page's `next`);
   * `after`: the oldest page newer than it. Cursors must be messageIds of
   * this conversation. Reading history marks nothing read: see markRead.
   */
  history(peer: string, options?: { before?: string; after?: string; limit?: number }): Promise<MessagePage>;
  /** roomHistory returns one page of a room's history (its current epoch), as history(); only for a user seated there (`forbidden` otherwise). */
  roomHistory(room: string, options?: { before?: string; after?: string; limit?: number }): Promise<RoomMessagePage>;
  /** conversations lists this user's conversations, most recent first, with unread counts, read markers and the peers' presence. */
  conversations(): Promise<Conversation[]>;
  /** searchUsers finds users whose name starts with `prefix` (at most 20, this user included). */
  searchUsers(prefix: string): Promise<UserInfo[]>;
  /** room fetches a room's seats over HTTP (any room; nobody needs to sit there). */
  room(name: string): Promise<RoomInfo>;
}
