// minichat JavaScript SDK: one ES module, no dependencies, only WebSocket and
// fetch, so it runs unchanged in browsers and React Native. The wire protocol
// it speaks is docs/protocol.md (v1.1); minichat.d.ts documents the API.

/** The WebSocket subprotocol offered next to the token. */
export const SUBPROTOCOL = 'minichat.v1';

/** An error from the server (its `code`) or from the SDK itself. */
export class MiniChatError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'MiniChatError';
    this.code = code;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.frame !== undefined) this.frame = extra.frame;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }
}

/**
 * backoffDelay is the wait before reconnect attempt `attempt` (0-based):
 * exponential, capped, with "equal jitter" (half fixed, half random) so that
 * clients dropped together by a server restart do not return together, yet
 * never retry in a tight loop.
 */
export function backoffDelay(attempt, { initialMs = 500, maxMs = 30000, random = Math.random } = {}) {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}

// Sends are idempotent by id on the server, so they are retried freely.
const SENDS = new Set(['private-message', 'private-file-message', 'group-message']);
// Frames that answer a request carry its id.
const REPLIES = new Set(['ack', 'error', 'login-ok', 'pong', 'update', 'full', 'presence-state']);
const PRIVATE = new Set(['private-message', 'private-file-message']);
const OPEN = 1; // WebSocket.OPEN, spelled out so that any WebSocket class works.
const MAX_SEEN = 10000;
const CATCH_UP_PAGES = 20;
const MAX_PAGE = 100;
const MAX_PRESENCE_IDS = 100; // per subscribe-presence frame

let counter = 0;
function newId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  counter += 1;
  return `c-${Date.now().toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function trimBase(url) {
  return String(url || '').replace(/\/+$/, '').replace(/\/api$/, '');
}

function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function chunks(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// retryAfterMs reads an HTTP Retry-After (seconds, or a date); null when
// absent, or hidden from a cross-origin page that was not allowed to see it.
function retryAfterMs(res) {
  const v = res.headers && typeof res.headers.get === 'function' ? res.headers.get('Retry-After') : null;
  if (v === null || v === '') return null;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

// Listener errors must not break the connection logic; rethrowing them in a
// microtask still reports them (console, window.onerror, test runners).
function safeCall(fn, args) {
  try {
    fn(...args);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

// A track follows the seq of one conversation (kind 'peer') or one room
// within one epoch (kind 'room'): the highest seq held with nothing missing
// below it and that message's id (the `after` cursor that fetches what
// follows), the seqs seen above a hole, and the timer that gives a hole a
// moment to fill by itself (pushes may arrive out of order).
function newTrack(kind, key, epoch) {
  return { kind, key, epoch, seq: 0, id: null, ahead: new Map(), timer: null, fetching: false, syncing: false, readUpTo: null };
}

// whereKey names a typing place: a private conversation (by the other
// user) or a room.
function whereKey({ to, room } = {}) {
  if (room) return `r:${room}`;
  if (to) return `p:${to}`;
  throw new MiniChatError('bad-request', 'typing: name `to` or `room`');
}

export class MiniChat {
  constructor(options = {}) {
    const g = globalThis;
    this._httpUrl = trimBase(options.httpUrl);
    this._wsUrl = options.wsUrl || '';
    this._fetch = options.fetch || ((...a) => g.fetch(...a));
    this._WebSocket = options.WebSocket || g.WebSocket;
    this._tokenIn = options.tokenIn || 'subprotocol';
    this._heartbeatMs = options.heartbeatMs ?? 60000;
    this._pongTimeoutMs = options.pongTimeoutMs ?? 20000;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this._connectTimeoutMs = options.connectTimeoutMs ?? 15000;
    this._backoff = {
      initialMs: options.backoff?.initialMs ?? 500,
      maxMs: options.backoff?.maxMs ?? 30000,
      random: options.random || Math.random,
    };
    this._rateLimitRetryMs = options.rateLimitRetryMs ?? 1000;
    this._rateLimitRetries = options.rateLimitRetries ?? 5;
    this._watchNetwork = options.watchNetwork ?? true;
    this._gapGraceMs = options.gapGraceMs ?? 1000;
    this._roomHistoryLimit = options.roomHistoryLimit ?? 50;
    this._typingRepeatMs = options.typingRepeatMs ?? 3000;
    this._typingShowMs = options.typingShowMs ?? 6000;

    this._listeners = new Map();
    this._status = 'idle';
    this._session = null;
    this._ws = null;
    this._ready = false;
    this._wanted = false; // connect() was called and close() was not
    this._everReady = false;
    this._attempt = 0;
    this._failedOpens = 0;
    this._timers = { reconnect: null, heartbeat: null, dead: null, connect: null };
    this._pending = new Map(); // request id -> pending request, in creation order
    this._waiters = [];
    this._catchUp = { running: false, again: false };
    this._onOnline = () => this._networkBack();
    this._onOffline = () => this._networkGone();
    this._resetState();
    if (options.session) this.setSession(options.session);
  }

  _resetState() {
    this._stopTimers();
    this._seen = new Set();
    this._peers = new Map(); // peer userId -> track of that conversation
    this._roomTracks = new Map(); // room -> track of the room's current epoch
    this._convSync = false; // conversations are being baselined or caught up
    this._baselined = false;
    this._joined = new Set(); // rooms to re-join after a reconnect
    this._versions = new Map(); // room -> highest seat version seen, in the track's epoch
    this._presence = new Map(); // subscribed userId -> last presence known (or null)
    this._typingOut = new Map(); // where -> when this client last sent `start` there
    this._typingIn = new Map(); // where + user -> {event, timer}: who is typing to us
  }

  // Timers that outlive a connection (hole grace, typing expiry) end with
  // the client: a closed client schedules nothing.
  _stopTimers() {
    for (const t of [...(this._peers?.values() || []), ...(this._roomTracks?.values() || [])]) {
      clearTimeout(t.timer);
      t.timer = null;
    }
    for (const t of this._typingIn?.values() || []) clearTimeout(t.timer);
    this._typingIn?.clear();
  }

  /** The current session, or null. */
  get session() {
    return this._session;
  }

  /** The logged-in user's id, or null. */
  get userId() {
    return this._session ? this._session.userId : null;
  }

  /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'. */
  get status() {
    return this._status;
  }

  /** Rooms this client holds a seat in (and re-joins after a reconnect). */
  get rooms() {
    return [...this._joined];
  }

  setSession(session) {
    const before = this.userId;
    this._session = session ? { ...session } : null;
    if (this.userId !== before) this._resetState();
  }

  on(type, fn) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  _emit(type, ...args) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) safeCall(fn, args);
  }

  _setStatus(s) {
    if (this._status === s) return;
    this._status = s;
    this._emit('status', s);
  }

  // HTTP --------------------------------------------------------------------

  // A GET refused with 429 is retried after the server's Retry-After; other
  // methods reject at once, with retryAfterMs for the caller to show.
  async _http(method, path, body, auth = true) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this._httpOnce(method, path, body, auth);
      } catch (err) {
        if (err.code !== 'rate-limited' || method !== 'GET' || attempt >= this._rateLimitRetries || !this._session) throw err;
        await sleep(err.retryAfterMs ?? this._rateLimitRetryMs * (attempt + 1));
      }
    }
  }

  async _httpOnce(method, path, body, auth) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      if (!this._session) throw new MiniChatError('unauthorized', 'not logged in');
      headers.Authorization = `Bearer ${this._session.token}`;
    }
    let res;
    try {
      res = await this._fetch(this._httpUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new MiniChatError('network', `${method} ${path}: ${err && err.message ? err.message : err}`);
    }
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const extra = { status: res.status };
      if (res.status === 429) extra.retryAfterMs = retryAfterMs(res) ?? undefined;
      const err = new MiniChatError(
        (data && data.code) || `http-${res.status}`,
        (data && data.message) || `${method} ${path}: HTTP ${res.status}`,
        extra,
      );
      if (auth && res.status === 401) this._emit('error', err);
      throw err;
    }
    return data;
  }

  async register(username, password) {
    return this._startSession(await this._http('POST', '/api/auth/register', { username, password }, false));
  }

  async login(username, password) {
    return this._startSession(await this._http('POST', '/api/auth/login', { username, password }, false));
  }

  _startSession(s) {
    this.setSession(s);
    return this._session;
  }

  logout() {
    this.close();
    this.setSession(null);
  }

  async conversations() {
    const convs = await this._http('GET', '/api/conversations');
    for (const c of convs) {
      const t = this._peerTrack(c.peer.userId);
      if (c.readUpTo && !(t.readUpTo && t.readUpTo >= c.readUpTo)) t.readUpTo = c.readUpTo;
      this._notePresence(c.peer, false);
    }
    return convs;
  }

  async history(peer, { before, after, limit } = {}) {
    const page = await this._http(
      'GET',
      `/api/conversations/${encodeURIComponent(peer)}/messages${query({ before, after, limit })}`,
    );
    for (const m of page.messages) this._note(m);
    return page;
  }

  async roomHistory(room, { before, after, limit } = {}) {
    const page = await this._http('GET', `/api/rooms/${encodeURIComponent(room)}/messages${query({ before, after, limit })}`);
    for (const m of page.messages) this._note(m);
    return page;
  }

  searchUsers(prefix = '') {
    return this._http('GET', `/api/users${query({ prefix })}`);
  }

  room(name) {
    return this._http('GET', `/api/rooms/${encodeURIComponent(name)}`);
  }

  /** avatarSrc is the URL of a user's image avatar (avatarUrl is relative to the HTTP API), or null. */
  avatarSrc(user) {
    const u = user && user.avatarUrl;
    if (!u) return null;
    return /^[a-z][a-z0-9+.-]*:/i.test(u) ? u : this._httpUrl + u;
  }

  // Connection ---------------------------------------------------------------

  connect() {
    const p = new Promise((resolve, reject) => {
      if (this._ready) resolve();
      else this._waiters.push({ resolve, reject });
    });
    if (this._wanted) return p;
    if (!this._wsUrl) {
      this._settleWaiters(new MiniChatError('bad-request', 'wsUrl is not set'));
      return p;
    }
    this._wanted = true;
    this._openedSinceConnect = false;
    this._attempt = 0;
    this._failedOpens = 0;
    this._listenNetwork(true);
    this._open();
    return p;
  }

  close() {
    this._wanted = false;
    this._listenNetwork(false);
    this._drop();
    this._stopTimers();
    for (const [id, p] of this._pending) {
      this._pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new MiniChatError('closed', 'client closed'));
    }
    this._settleWaiters(new MiniChatError('closed', 'client closed'));
    this._setStatus('closed');
  }

  _settleWaiters(err) {
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  _listenNetwork(on) {
    const g = globalThis;
    if (!this._watchNetwork || typeof g.addEventListener !== 'function') return;
    const m = on ? 'addEventListener' : 'removeEventListener';
    g[m]('online', this._onOnline);
    g[m]('offline', this._onOffline);
  }

  // The browser knows before any heartbeat that the network is gone, and
  // when it is back: no need to wait for a timeout or a backoff step.
  _networkGone() {
    if (!this._wanted || !this._ws) return;
    this._drop();
    this._setStatus(this._openedSinceConnect ? 'reconnecting' : 'connecting');
    this._scheduleReconnect();
  }

  _networkBack() {
    if (!this._wanted || this._ws) return;
    this._attempt = 0;
    this._open();
  }

  _fail(err) {
    this._emit('error', err);
    this.close();
  }

  _open() {
    clearTimeout(this._timers.reconnect);
    this._timers.reconnect = null;
    const s = this._session;
    if (!s) {
      this._fail(new MiniChatError('unauthorized', 'not logged in'));
      return;
    }
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) {
      this._fail(new MiniChatError('unauthorized', 'session expired: log in again'));
      return;
    }
    this._setStatus(this._openedSinceConnect ? 'reconnecting' : 'connecting');
    let url = this._wsUrl;
    let protocols;
    if (this._tokenIn === 'query') url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(s.token)}`;
    if (this._tokenIn === 'subprotocol') protocols = [SUBPROTOCOL, s.token];
    let ws;
    try {
      ws = protocols ? new this._WebSocket(url, protocols) : new this._WebSocket(url);
    } catch (err) {
      this._emit('error', new MiniChatError('network', `connect: ${err && err.message ? err.message : err}`));
      this._failedOpens += 1;
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    let opened = false;
    // A handshake can hang (a lost SYN, a stalled proxy) and browsers do not
    // give up on their own.
    this._timers.connect = setTimeout(() => {
      if (this._ws !== ws || opened) return;
      this._failedOpens += 1;
      this._drop();
      this._scheduleReconnect();
    }, this._connectTimeoutMs);
    ws.onopen = () => {
      if (this._ws !== ws) return;
      opened = true;
      clearTimeout(this._timers.connect);
      this._attempt = 0;
      this._failedOpens = 0;
      this._armHeartbeat();
      this._resync(ws);
    };
    ws.onmessage = (ev) => {
      if (this._ws === ws) this._onFrame(ev.data);
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this._ws !== ws) return;
      if (!opened) this._failedOpens += 1;
      this._drop();
      this._setStatus(this._openedSinceConnect ? 'reconnecting' : 'connecting');
      this._scheduleReconnect();
    };
  }

  // _drop forgets the socket at once (its late events are ignored) and puts
  // every request back in the queue, unwritten, for the next connection.
  _drop() {
    const ws = this._ws;
    this._ws = null;
    this._ready = false;
    for (const k of Object.keys(this._timers)) {
      clearTimeout(this._timers[k]);
      this._timers[k] = null;
    }
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.timer = null;
      p.written = false;
      if (!p.resend) {
        this._pending.delete(id);
        p.reject(new MiniChatError('disconnected', 'connection lost before the reply'));
      }
    }
    // A new connection has no typing of ours to repeat.
    this._typingOut.clear();
  }

  _scheduleReconnect() {
    if (!this._wanted || this._timers.reconnect) return;
    // A refused handshake looks like any network failure in a browser; ask
    // the HTTP API whether the token is the reason before trying on.
    if (this._failedOpens > 0 && this._failedOpens % 3 === 0) this._checkToken();
    const delayMs = backoffDelay(this._attempt, this._backoff);
    this._emit('retry', { attempt: this._attempt, delayMs });
    this._attempt += 1;
    this._timers.reconnect = setTimeout(() => {
      this._timers.reconnect = null;
      if (this._wanted && !this._ws) this._open();
    }, delayMs);
  }

  async _checkToken() {
    try {
      await this.searchUsers(this._session ? this._session.username : '');
    } catch (err) {
      // _http has reported the 401 as an 'error' event already.
      if (err.code === 'unauthorized' && this._wanted) this.close();
    }
  }

  _armHeartbeat() {
    clearTimeout(this._timers.heartbeat);
    this._timers.heartbeat = setTimeout(() => {
      const ws = this._ws;
      if (!ws) return;
      this._send(ws, { action: 'ping' });
      // The deadline runs from the first unanswered ping: later pings must
      // not push it back. Any incoming frame clears it.
      if (!this._timers.dead) {
        this._timers.dead = setTimeout(() => {
          if (this._ws !== ws) return;
          this._emit('error', new MiniChatError('timeout', 'no answer to ping: reconnecting'));
          this._drop();
          this._setStatus(this._openedSinceConnect ? 'reconnecting' : 'connecting');
          this._scheduleReconnect();
        }, this._pongTimeoutMs);
      }
      this._armHeartbeat();
    }, this._heartbeatMs);
  }

  _send(ws, frame) {
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  // After every (re)connect: log in if the token travels in a frame, take
  // the seats back, then release the queued requests (group messages need
  // the seat, and on AWS frames of one connection may be handled in
  // parallel), subscribe to presence again (subscriptions die with their
  // connection), then fetch what was missed.
  async _resync(ws) {
    const first = !this._everReady;
    try {
      if (this._tokenIn === 'login') await this._request({ action: 'login', token: this._session.token }, { early: true });
      const joins = [];
      for (const room of this._joined) {
        const queued = [...this._pending.values()].find((p) => p.frame.action === 'joinroom' && p.frame.room === room);
        if (queued) {
          queued.early = true;
          this._write(queued);
          joins.push(queued.promise);
        } else {
          joins.push(this._request({ action: 'joinroom', room }, { early: true }));
        }
      }
      await Promise.allSettled(joins);
    } catch (err) {
      if (this._ws === ws) this._fail(err);
      return;
    }
    if (this._ws !== ws) return;
    this._ready = true;
    this._everReady = true;
    this._openedSinceConnect = true;
    this._setStatus('open');
    const resent = [];
    const covered = new Set(); // presence ids a queued subscribe already names
    for (const p of this._pending.values()) {
      if (p.frame.action === 'subscribe-presence') for (const id of p.frame.userIds) covered.add(id);
      if (!p.written) {
        this._write(p);
        if (SENDS.has(p.frame.action)) resent.push(p.promise);
      }
    }
    const again = [...this._presence.keys()].filter((id) => !covered.has(id));
    for (const ids of chunks(again, MAX_PRESENCE_IDS)) this._subscribe(ids).catch((err) => this._emit('error', err));
    this._settleWaiters(null);
    // An unacked send may have been stored before the drop; its ack (same
    // messageId and seq) must be in before catch-up, or catch-up would
    // report it as missed.
    await Promise.allSettled(resent);
    if (this._ws !== ws) return;
    this._syncConversations(!(first || !this._baselined));
  }

  // _syncConversations reads the conversation list: on the first connect it
  // is the baseline (what came before is history, not news); after a
  // reconnect every conversation whose last seq is above what we hold is
  // fetched from there. Holes seen meanwhile wait until it is done.
  async _syncConversations(catchUp) {
    if (this._catchUp.running) {
      this._catchUp.again = true;
      return;
    }
    this._catchUp.running = true;
    this._convSync = true;
    try {
      do {
        this._catchUp.again = false;
        const convs = await this.conversations();
        for (const c of convs) {
          const last = c.lastMessage;
          if (!last || !(last.seq > 0)) continue;
          const t = this._peerTrack(c.peer.userId);
          if (!catchUp) this._baselineTo(t, last.seq, last.messageId);
          else if (last.seq > t.seq) await this._fetchFollowing(t, last.seq - t.seq, null);
        }
        if (!catchUp) this._baselined = true;
        this._emit('conversations', convs);
      } while (this._catchUp.again && this._wanted);
    } catch (err) {
      this._emit('error', err);
    } finally {
      this._catchUp.running = false;
      this._convSync = false;
      for (const t of this._peers.values()) this._holeCheck(t);
    }
  }

  // Seq tracking ------------------------------------------------------------------

  _peerTrack(peer) {
    let t = this._peers.get(peer);
    if (!t) this._peers.set(peer, (t = newTrack('peer', peer)));
    return t;
  }

  // _lastSeq is the newest seq held of the conversation with peer (past a
  // hole too), sent with a private send as the protocol's lastSeq: the
  // server then finds the conversation's end without a read of its own.
  // Undefined (left out of the frame) when nothing is held.
  _lastSeq(peer) {
    const t = this._peers.get(peer);
    if (!t) return undefined;
    const seq = Math.max(t.seq, ...t.ahead.keys());
    return seq > 0 ? seq : undefined;
  }

  // _roomTrack returns the track of a room this client sits in, starting a
  // new one when the frame names another epoch: the room was emptied and
  // created again, and what we held of it means nothing now.
  _roomTrack(room, epoch) {
    if (!this._joined.has(room)) return null;
    let t = this._roomTracks.get(room);
    if (t && epoch && t.epoch && t.epoch !== epoch) {
      this._forgetRoom(room);
      this._emit('room-reset', { room, epoch, previousEpoch: t.epoch });
      t = null;
    }
    if (!t) {
      this._roomTracks.set(room, (t = newTrack('room', room, epoch)));
    } else if (!t.epoch && epoch) {
      t.epoch = epoch;
    }
    return t;
  }

  _forgetRoom(room) {
    const t = this._roomTracks.get(room);
    if (t) clearTimeout(t.timer);
    this._roomTracks.delete(room);
    this._versions.delete(room);
  }

  _trackOf(m) {
    if (PRIVATE.has(m.type)) return this._peerTrack(this._peerOf(m));
    if (m.type === 'group-message') return this._roomTrack(m.room, m.epoch);
    return null;
  }

  _current(t) {
    return (t.kind === 'peer' ? this._peers.get(t.key) : this._roomTracks.get(t.key)) === t;
  }

  // _saw records that message `id` with `seq` is here (delivered, acked or
  // read in history).
  _saw(t, seq, id) {
    if (!t || !(seq > t.seq)) return;
    if (seq === t.seq + 1) {
      t.seq = seq;
      t.id = id;
    } else {
      t.ahead.set(seq, id);
    }
    this._advance(t);
    this._holeCheck(t);
  }

  _baselineTo(t, seq, id) {
    if (seq > t.seq) {
      t.seq = seq;
      t.id = id;
    }
    this._advance(t);
  }

  _advance(t) {
    for (const s of t.ahead.keys()) if (s <= t.seq) t.ahead.delete(s);
    while (t.ahead.has(t.seq + 1)) {
      t.seq += 1;
      t.id = t.ahead.get(t.seq);
      t.ahead.delete(t.seq);
    }
    if (t.ahead.size === 0) {
      clearTimeout(t.timer);
      t.timer = null;
    }
  }

  // _holeCheck gives a hole gapGraceMs to fill with late pushes, then
  // fetches exactly what is still missing.
  _holeCheck(t) {
    if (t.ahead.size === 0 || t.timer || !this._wanted) return;
    t.timer = setTimeout(() => {
      t.timer = null;
      this._repair(t);
    }, this._gapGraceMs);
  }

  async _repair(t) {
    const busy = t.fetching || (t.kind === 'peer' ? this._convSync : t.syncing);
    if (t.ahead.size === 0 || busy || !this._wanted || !this._current(t)) return;
    const low = Math.min(...t.ahead.keys());
    const held = t.seq;
    t.fetching = true;
    try {
      await this._fetchFollowing(t, low - held - 1, t.ahead.get(low));
    } catch (err) {
      // The next reconnect's catch-up tries again.
      this._emit('error', err);
      return;
    } finally {
      t.fetching = false;
    }
    if (!this._current(t)) return;
    if (t.seq < low - 1) {
      // The server answered without the missing seqs: step over the hole
      // rather than ask for it forever.
      this._emit('error', new MiniChatError('gap', `messages ${t.seq + 1}..${low - 1} of ${t.key} could not be fetched`));
      t.seq = low;
      t.id = t.ahead.get(low);
      this._advance(t);
    }
    this._holeCheck(t);
  }

  _historyPath(t) {
    return t.kind === 'peer'
      ? `/api/conversations/${encodeURIComponent(t.key)}/messages`
      : `/api/rooms/${encodeURIComponent(t.key)}/messages`;
  }

  // _fetchFollowing fetches the `count` messages that follow what t holds
  // and delivers them, oldest first, as catch-up. With a held message it
  // pages forward `after` it; with none (the hole starts at seq 1) it pages
  // back from `beforeId` (exclusive), or from the newest message.
  async _fetchFollowing(t, count, beforeId) {
    const path = this._historyPath(t);
    if (t.id) {
      let after = t.id;
      for (let i = 0; i < CATCH_UP_PAGES && count > 0; i++) {
        const page = await this._http('GET', path + query({ after, limit: Math.min(MAX_PAGE, count) }));
        if (!this._current(t)) return;
        this._deliverPage(page.messages);
        count -= page.messages.length;
        if (!page.next) return;
        after = page.next;
      }
      return;
    }
    const got = [];
    let before = beforeId;
    for (let i = 0; i < CATCH_UP_PAGES && got.length < count; i++) {
      const page = await this._http('GET', path + query({ before, limit: Math.min(MAX_PAGE, count - got.length) }));
      got.push(...page.messages);
      if (!page.next) break;
      before = page.next;
    }
    if (this._current(t)) this._deliverPage(got);
  }

  // Pages are newest first; report oldest first.
  _deliverPage(messages) {
    for (const m of [...messages].reverse()) this._deliver({ ...m, catchUp: true });
  }

  // _syncRoom runs after each (re)join: what the room said since what we
  // hold, or on a first join (or in a new epoch) its latest page.
  async _syncRoom(room, epoch) {
    const t = this._roomTrack(room, epoch);
    if (!t || t.syncing) return;
    t.syncing = true;
    try {
      if (t.id) {
        await this._fetchFollowing(t, Infinity, null);
      } else {
        const page = await this._http('GET', `${this._historyPath(t)}${query({ limit: this._roomHistoryLimit })}`);
        if (!this._current(t)) return;
        const newest = page.messages[0];
        if (newest) this._baselineTo(t, newest.seq, newest.messageId);
        this._deliverPage(page.messages);
      }
    } catch (err) {
      // Leaving while the page was on its way is no error.
      if (this._current(t)) this._emit('error', err);
    } finally {
      t.syncing = false;
      if (this._current(t)) this._holeCheck(t);
    }
  }

  // Requests -------------------------------------------------------------------

  _request(frame, { timeoutMs, early = false } = {}) {
    if (!this._wanted) return Promise.reject(new MiniChatError('not-connected', 'call connect() first'));
    const id = frame.id || newId();
    const p = {
      frame: { ...frame, id },
      timeoutMs: timeoutMs ?? this._requestTimeoutMs,
      resend: frame.action !== 'ping' && frame.action !== 'login',
      early,
      written: false,
      timer: null,
      rateRetries: 0,
    };
    p.promise = new Promise((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    this._pending.set(id, p);
    if (this._ready || early) this._write(p);
    return p.promise;
  }

  // The timeout runs only while a request is on an open socket: queued
  // requests wait for the connection however long it takes.
  _write(p) {
    if (!this._send(this._ws, p.frame)) return;
    p.written = true;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (this._pending.get(p.frame.id) !== p) return;
      this._pending.delete(p.frame.id);
      p.reject(new MiniChatError('timeout', `no reply to ${p.frame.action} within ${p.timeoutMs} ms`));
    }, p.timeoutMs);
  }

  _settle(f) {
    const p = this._pending.get(f.id);
    if (!p) return false;
    clearTimeout(p.timer);
    if (f.type === 'error') {
      if (f.code === 'rate-limited' && SENDS.has(p.frame.action) && p.rateRetries < this._rateLimitRetries) {
        p.rateRetries += 1;
        p.written = false;
        // The server says how long; older servers do not.
        p.timer = setTimeout(() => {
          if (this._pending.get(p.frame.id) === p && this._ready) this._write(p);
        }, f.retryAfterMs ?? this._rateLimitRetryMs * p.rateRetries);
        return true;
      }
      this._pending.delete(f.id);
      p.reject(new MiniChatError(f.code, f.message, { frame: f, retryAfterMs: f.retryAfterMs }));
      return true;
    }
    this._pending.delete(f.id);
    if (f.type === 'ack' && f.messageId && SENDS.has(p.frame.action)) this._acked(p.frame, f);
    if (f.type === 'presence-state') for (const u of f.users || []) this._notePresence(u, true);
    p.resolve(f);
    return true;
  }

  ping() {
    return this._request({ action: 'ping' });
  }

  sendPrivate(to, content, { id } = {}) {
    this._typingOut.delete(whereKey({ to }));
    return this._request({ action: 'private-message', to, content, id, lastSeq: this._lastSeq(to) });
  }

  sendGroup(room, msg, { id } = {}) {
    this._typingOut.delete(whereKey({ room }));
    return this._request({ action: 'group-message', room, msg, id });
  }

  // sendFile: ask for a presigned upload, upload, then announce the file.
  // Only the last step is a WebSocket request (resent after a reconnect
  // like any send); a failed upload rejects and sends nothing.
  async sendFile(to, file, { fileName, fileType, id } = {}) {
    const name = fileName || file.name || 'file';
    const type = fileType || file.type || 'application/octet-stream';
    const up = await this._http('POST', '/api/files', { fileName: name, fileType: type, size: file.size, to });
    await this._upload(up.upload, file, name);
    return this._request({
      action: 'private-file-message',
      to,
      fileKey: up.fileKey,
      fileName: name,
      fileType: type,
      messageType: type.startsWith('image/') ? 'image' : 'file',
      id,
      lastSeq: this._lastSeq(to),
    });
  }

  // setAvatarImage: the same three steps with purpose "avatar", then reads
  // this user back, since the ack does not say the new avatarUrl.
  async setAvatarImage(file, { fileName, fileType } = {}) {
    const name = fileName || file.name || 'avatar';
    const type = fileType || file.type || '';
    const up = await this._http('POST', '/api/files', { purpose: 'avatar', fileName: name, fileType: type, size: file.size });
    await this._upload(up.upload, file, name);
    await this._request({ action: 'avatar-updated', avatarFileKey: up.fileKey });
    const s = this._session;
    const me = (await this.searchUsers(s.username)).find((u) => u.userId === s.userId);
    if (!me) throw new MiniChatError('not-found', 'this user was not found after the avatar change');
    return me;
  }

  async _upload(upload, file, name) {
    let res;
    try {
      if ((upload.method || 'POST').toUpperCase() === 'POST') {
        // A presigned POST: the policy's fields first, the file last.
        const form = new FormData();
        for (const [k, v] of Object.entries(upload.fields || {})) form.append(k, v);
        if (typeof Blob !== 'undefined' && file instanceof Blob) form.append('file', file, name);
        else form.append('file', file); // React Native: {uri, name, type}
        res = await this._fetch(upload.url, { method: 'POST', body: form });
      } else {
        res = await this._fetch(upload.url, { method: upload.method, headers: upload.headers || {}, body: file });
      }
    } catch (err) {
      throw new MiniChatError('network', `upload: ${err && err.message ? err.message : err}`);
    }
    if (!res.ok) throw new MiniChatError('upload-failed', `upload: HTTP ${res.status}`, { status: res.status });
  }

  deleteMessage(messageId) {
    return this._request({ action: 'message-deleted', messageId });
  }

  setAvatar(avatar) {
    return this._request({ action: 'avatar-updated', avatar });
  }

  joinRoom(room) {
    this._joined.add(room);
    return this._request({ action: 'joinroom', room });
  }

  leaveRoom(room) {
    this._joined.delete(room);
    this._forgetRoom(room);
    this._typingOut.delete(whereKey({ room }));
    return this._request({ action: 'leaveroom', room });
  }

  // Read markers: the server never moves a marker back, so a markRead at or
  // below the one we know sends nothing.
  async markRead(peerId, messageId) {
    const t = this._peerTrack(peerId);
    if (t.readUpTo && t.readUpTo >= messageId) return;
    await this._request({ action: 'read', peerId, messageId });
    if (!(t.readUpTo && t.readUpTo >= messageId)) t.readUpTo = messageId;
  }

  // Presence ---------------------------------------------------------------------

  /** presence returns the last known presence of a subscribed user, or null. */
  presence(userId) {
    return this._presence.get(userId) || null;
  }

  // subscribePresence watches users for as long as the client lives (the
  // SDK subscribes again after every reconnect). Users already watched cost
  // no frame.
  async subscribePresence(userIds) {
    const ids = [...new Set(userIds)];
    const fresh = ids.filter((id) => !this._presence.has(id));
    for (const id of fresh) this._presence.set(id, null);
    try {
      await Promise.all(chunks(fresh, MAX_PRESENCE_IDS).map((c) => this._subscribe(c)));
    } catch (err) {
      for (const id of fresh) this._presence.delete(id);
      throw err;
    }
    return ids.map((id) => this._presence.get(id) || { userId: id, online: false, lastSeen: null });
  }

  _subscribe(ids) {
    return this._request({ action: 'subscribe-presence', userIds: ids });
  }

  async unsubscribePresence(userIds) {
    const ids = [...new Set(userIds)].filter((id) => this._presence.has(id));
    for (const id of ids) this._presence.delete(id);
    if (!this._ready) return; // the next connection simply does not subscribe them
    await Promise.all(chunks(ids, MAX_PRESENCE_IDS).map((c) => this._request({ action: 'unsubscribe-presence', userIds: c })));
  }

  // _notePresence keeps what we learn of a watched user and tells
  // listeners when it changed (or when the server tells it anew).
  _notePresence(u, always) {
    if (!this._presence.has(u.userId) || u.online === undefined) return;
    const before = this._presence.get(u.userId);
    const now = { userId: u.userId, online: !!u.online, lastSeen: u.lastSeen ?? null };
    this._presence.set(u.userId, now);
    if (always || !before || before.online !== now.online || before.lastSeen !== now.lastSeen) this._emit('presence', now);
  }

  // Typing -------------------------------------------------------------------------

  // typing tells `where` ({to} or {room}) that this user is typing. Call it
  // on every keystroke: `start` goes out at most every typingRepeatMs, which
  // keeps the others' indicator alive (they drop it typingShowMs after the
  // last start). Nothing is queued while disconnected: typing is of the
  // moment.
  typing(where) {
    const key = whereKey(where);
    const last = this._typingOut.get(key);
    const now = Date.now();
    if (last !== undefined && now - last < this._typingRepeatMs) return;
    if (this._sendTyping(where, 'start')) this._typingOut.set(key, now);
  }

  // stopTyping says this user stopped (cleared the input, left the
  // conversation); nothing goes out unless a start may still show. A send
  // needs no stop: receivers drop the indicator when the message arrives.
  stopTyping(where) {
    const key = whereKey(where);
    if (!this._typingOut.has(key)) return;
    this._typingOut.delete(key);
    this._sendTyping(where, 'stop');
  }

  _sendTyping({ to, room }, state) {
    if (!this._ready) return false;
    return this._send(this._ws, room ? { action: 'typing', room, state } : { action: 'typing', to, state });
  }

  // Others' typing: `start` shows for typingShowMs after the last one, then
  // the SDK emits the `stop` that never came (expired: true).
  _typingFrame(f) {
    if (!f.from || f.from === this.userId) return;
    const key = `${f.room ? `r:${f.room}` : `p:${f.from}`}|${f.from}`;
    const cur = this._typingIn.get(key);
    if (f.state === 'start') {
      const event = { type: 'typing', from: f.from, username: f.username, state: 'start' };
      if (f.room) event.room = f.room;
      else event.to = f.to;
      if (cur) clearTimeout(cur.timer);
      const timer = setTimeout(() => this._typingEnded(key, true), this._typingShowMs);
      this._typingIn.set(key, { event, timer });
      if (!cur) this._emit('typing', event);
    } else if (f.state === 'stop' && cur) {
      this._typingEnded(key, false);
    }
  }

  _typingEnded(key, expired) {
    const cur = this._typingIn.get(key);
    if (!cur) return;
    clearTimeout(cur.timer);
    this._typingIn.delete(key);
    this._emit('typing', { ...cur.event, state: 'stop', ...(expired ? { expired: true } : {}) });
  }

  // A message from someone ends their typing there.
  _typingSpoke(m) {
    if (PRIVATE.has(m.type)) this._typingEnded(`p:${m.from}|${m.from}`, false);
    else if (m.type === 'group-message') this._typingEnded(`r:${m.room}|${m.userId}`, false);
  }

  // Incoming frames --------------------------------------------------------------

  _onFrame(data) {
    clearTimeout(this._timers.dead);
    this._timers.dead = null;
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      this._emit('error', new MiniChatError('bad-frame', 'server sent a frame that is not JSON'));
      return;
    }
    if (!f || typeof f !== 'object') return;
    const isReply = f.id !== undefined && REPLIES.has(f.type) && this._pending.has(f.id);
    switch (f.type) {
      case 'private-message':
      case 'private-file-message':
      case 'group-message':
        this._deliver(f);
        break;
      case 'update':
        this._update(f, isReply);
        break;
      case 'full':
        this._joined.delete(f.room);
        this._forgetRoom(f.room);
        this._emit('full', f);
        break;
      case 'notice':
        if (f.event === 'leave' && f.userId === this.userId) {
          this._joined.delete(f.room);
          this._forgetRoom(f.room);
        } else {
          this._roomTrack(f.room, f.epoch);
        }
        this._emit('notice', f);
        break;
      case 'presence':
        this._notePresence(f, false);
        break;
      case 'typing':
        this._typingFrame(f);
        break;
      case 'read':
        if (f.by === this.userId) {
          const t = this._peerTrack(f.chatWith);
          if (!(t.readUpTo && t.readUpTo >= f.messageId)) t.readUpTo = f.messageId;
        }
        this._emit('read', f);
        break;
      case 'error':
        if (!isReply) this._emit('error', new MiniChatError(f.code, f.message, { frame: f, retryAfterMs: f.retryAfterMs }));
        break;
      case 'ack':
      case 'pong':
      case 'login-ok':
      case 'presence-state':
        break;
      default:
        this._emit(f.type, f);
    }
    if (isReply) this._settle(f);
  }

  // The reply to our own join is authoritative (a room that emptied while
  // we were away starts again, in a new epoch); pushed updates count only
  // when newer than what we have in the same epoch. Every join reply is
  // followed by fetching what the room said meanwhile.
  _update(f, isJoinReply) {
    this._roomTrack(f.room, f.epoch);
    const have = this._versions.get(f.room);
    const sameEpoch = have && (!f.epoch || !have.epoch || have.epoch === f.epoch); // a v1 server names none
    if (!isJoinReply && sameEpoch && f.version <= have.version) return;
    this._versions.set(f.room, { epoch: f.epoch, version: f.version });
    this._emit('update', f);
    if (isJoinReply && this._joined.has(f.room)) this._syncRoom(f.room, f.epoch);
  }

  // A group send's ack comes before the room's echo of it; the message is
  // delivered from the request at once (the echo is then a duplicate), so
  // the sender sees what it said even when a reconnect lost the echo.
  _acked(req, ack) {
    if (req.action === 'group-message') {
      const s = this._session || {};
      this._deliver({
        type: 'group-message', room: req.room, messageId: ack.messageId, msg: req.msg,
        uname: s.username, userId: s.userId, at: ack.at, seq: ack.seq, epoch: ack.epoch,
      });
      return;
    }
    this._markSeen(ack.messageId);
    if (req.to) this._saw(this._peerTrack(req.to), ack.seq, ack.messageId);
  }

  _markSeen(id) {
    if (this._seen.has(id)) return false;
    this._seen.add(id);
    if (this._seen.size > MAX_SEEN) this._seen.delete(this._seen.values().next().value);
    return true;
  }

  _peerOf(m) {
    return m.from === this.userId ? m.to : m.from;
  }

  // _note records a message the caller was given in a history page.
  _note(m) {
    this._markSeen(m.messageId);
    this._saw(this._trackOf(m), m.seq, m.messageId);
  }

  _deliver(m) {
    if (!m.messageId) return;
    const fresh = this._markSeen(m.messageId);
    this._saw(this._trackOf(m), m.seq, m.messageId);
    if (!fresh || m.deleted) return;
    this._typingSpoke(m);
    this._emit(m.type, m);
  }
}
