// Type declarations of minichat.js, the minichat JavaScript SDK.
// The wire protocol behind them is docs/protocol.md.

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
 * (the file store refused an upload), `http-<status>` (an HTTP error without
 * a JSON body).
 */
export type ErrorCode =
  | 'bad-request' | 'unknown-action' | 'unauthorized' | 'forbidden' | 'not-found'
  | 'conflict' | 'too-large' | 'rate-limited' | 'internal'
  | 'timeout' | 'network' | 'disconnected' | 'closed' | 'not-connected' | 'bad-frame' | 'upload-failed'
  | `http-${number}`;

/** MiniChatError is every error the SDK throws, rejects with or emits. */
export class MiniChatError extends Error {
  /** The protocol's or the SDK's error code. */
  code: ErrorCode;
  /** The HTTP status, for errors of the HTTP API. */
  status?: number;
  /** The server's `error` frame, for errors of WebSocket requests. */
  frame?: ErrorFrame;
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
  avatar: string;
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
  /** Only in history: the sender deleted it. */
  deleted?: boolean;
  /** Set by the SDK on messages found by catch-up after a reconnect. */
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
  deleted?: boolean;
  catchUp?: boolean;
}

/** GroupMessage is a pushed `group-message` frame. Group messages have no history. */
export interface GroupMessage {
  type: 'group-message';
  room: string;
  messageId: string;
  msg: string;
  /** The sender's username. */
  uname: string;
  userId: string;
  at: string;
}

/** Seat is one of a room's 8 seats; a free seat has null user fields and avatar "🪑". */
export interface Seat {
  seat: number;
  userId: string | null;
  username: string | null;
  /** The seat's own emoji (seat i always shows emoji i), or "🪑" when free. */
  avatar: string;
}

/** Update carries a room's seats; `version` grows with every change. */
export interface Update {
  type: 'update';
  /** Present on the reply to this client's own joinRoom. */
  id?: string;
  room: string;
  version: number;
  seats: Seat[];
}

/** Full answers a join when all 8 seats are taken. */
export interface Full {
  type: 'full';
  id?: string;
  room: string;
}

/** Notice announces a join or a leave to a room. */
export interface Notice {
  type: 'notice';
  room: string;
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

/** AvatarUpdated tells that a user set a new avatar. */
export interface AvatarUpdated {
  type: 'avatar-updated';
  userId: string;
  avatar: string;
}

/** Ack answers a request; sends carry the stored message's id and time. */
export interface Ack {
  type: 'ack';
  id: string;
  messageId?: string;
  at?: string;
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
}

/** MessagePage is one page of a conversation, newest first; `next` is the cursor of the following page. */
export interface MessagePage {
  messages: Array<PrivateMessage | FileMessage>;
  next?: string;
}

/** Conversation is one item of conversations(). */
export interface Conversation {
  peer: UserInfo;
  lastMessage: PrivateMessage | FileMessage | null;
  /** Messages the peer sent since this user last read the conversation. */
  unread: number;
}

/** RoomInfo is a room's seats as fetched over HTTP. */
export interface RoomInfo {
  room: string;
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
  /** A message in a room this user sits in, this client's own included. */
  'group-message': GroupMessage;
  /** A room's seats changed; stale (lower-version) updates are never emitted. */
  update: Update;
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
 *   and delivers each message once), and then fetches the private
 *   messages missed meanwhile through the history API (`after` the newest
 *   message it knows per conversation), emitting them with `catchUp: true`;
 * - emits each message once, whether it came live, by catch-up or through
 *   history(): events may come out of order after a reconnect, so order
 *   messages by `messageId`.
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
  /** setAvatar sets this user's avatar, typically one emoji. */
  setAvatar(avatar: string): Promise<Ack>;
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
   * `after`: the oldest page newer than it. Without `before` it also marks
   * the conversation read.
   */
  history(peer: string, options?: { before?: string; after?: string; limit?: number }): Promise<MessagePage>;
  /** conversations lists this user's conversations, most recent first, with unread counts. */
  conversations(): Promise<Conversation[]>;
  /** searchUsers finds users whose name starts with `prefix` (at most 20, this user included). */
  searchUsers(prefix: string): Promise<UserInfo[]>;
  /** room fetches a room's seats over HTTP (any room; nobody needs to sit there). */
  room(name: string): Promise<RoomInfo>;
}
