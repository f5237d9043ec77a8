// minichat JavaScript SDK: one ES module, no dependencies, only WebSocket and
// fetch, so it runs unchanged in browsers and React Native. The wire protocol
// it speaks is docs/protocol.md; minichat.d.ts documents the API.

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
const REPLIES = new Set(['ack', 'error', 'login-ok', 'pong', 'update', 'full']);
const PRIVATE = new Set(['private-message', 'private-file-message']);
const OPEN = 1; // WebSocket.OPEN, spelled out so that any WebSocket class works.
const MAX_SEEN = 10000;
const CATCH_UP_PAGES = 20;

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
    this._seen = new Set();
    this._lastSeen = new Map(); // peer userId -> newest messageId of that conversation we know
    this._highWater = '';
    this._baselined = false;
    this._joined = new Set(); // rooms to re-join after a reconnect
    this._versions = new Map(); // room -> highest seat version seen
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

  async _http(method, path, body, auth = true) {
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
      const err = new MiniChatError(
        (data && data.code) || `http-${res.status}`,
        (data && data.message) || `${method} ${path}: HTTP ${res.status}`,
        { status: res.status },
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

  conversations() {
    return this._http('GET', '/api/conversations');
  }

  async history(peer, { before, after, limit } = {}) {
    const page = await this._http(
      'GET',
      `/api/conversations/${encodeURIComponent(peer)}/messages${query({ before, after, limit })}`,
    );
    for (const m of page.messages) this._remember(m);
    return page;
  }

  searchUsers(prefix = '') {
    return this._http('GET', `/api/users${query({ prefix })}`);
  }

  room(name) {
    return this._http('GET', `/api/rooms/${encodeURIComponent(name)}`);
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
  // parallel), then fetch what was missed.
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
    for (const p of this._pending.values()) {
      if (!p.written) {
        this._write(p);
        if (SENDS.has(p.frame.action)) resent.push(p.promise);
      }
    }
    this._settleWaiters(null);
    // An unacked send may have been stored before the drop; its ack (same
    // messageId) must be in before catch-up, or catch-up would report it.
    await Promise.allSettled(resent);
    if (this._ws !== ws) return;
    if (first || !this._baselined) this._baseline();
    else this._catchUpMissed();
  }

  // Baseline: what the conversations held when we first connected; catch-up
  // reports only what came after.
  async _baseline() {
    try {
      const convs = await this.conversations();
      for (const c of convs) {
        if (c.lastMessage) this._bump(c.peer.userId, c.lastMessage.messageId);
      }
      this._baselined = true;
    } catch (err) {
      this._emit('error', err);
    }
  }

  async _catchUpMissed() {
    if (this._catchUp.running) {
      this._catchUp.again = true;
      return;
    }
    this._catchUp.running = true;
    try {
      do {
        this._catchUp.again = false;
        const convs = await this.conversations();
        for (const c of convs) {
          const last = c.lastMessage && c.lastMessage.messageId;
          const peer = c.peer.userId;
          const cursor = this._lastSeen.get(peer) || this._highWater;
          if (!last || (cursor && last <= cursor)) continue;
          await this._catchUpPeer(peer, cursor);
        }
      } while (this._catchUp.again && this._wanted);
    } catch (err) {
      this._emit('error', err);
    } finally {
      this._catchUp.running = false;
    }
  }

  async _catchUpPeer(peer, cursor) {
    const path = `/api/conversations/${encodeURIComponent(peer)}/messages`;
    let after = cursor;
    for (let i = 0; i < CATCH_UP_PAGES; i++) {
      const page = await this._http('GET', path + query({ after, limit: 100 }));
      // Pages are newest first; report oldest first.
      for (const m of [...page.messages].reverse()) this._deliver({ ...m, catchUp: true });
      if (!page.next || !after) return;
      after = page.next;
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
        p.timer = setTimeout(() => {
          if (this._pending.get(p.frame.id) === p && this._ready) this._write(p);
        }, this._rateLimitRetryMs * p.rateRetries);
        return true;
      }
      this._pending.delete(f.id);
      p.reject(new MiniChatError(f.code, f.message, { frame: f }));
      return true;
    }
    this._pending.delete(f.id);
    if (f.type === 'ack' && f.messageId && SENDS.has(p.frame.action)) this._acked(p.frame, f);
    p.resolve(f);
    return true;
  }

  ping() {
    return this._request({ action: 'ping' });
  }

  sendPrivate(to, content, { id } = {}) {
    return this._request({ action: 'private-message', to, content, id });
  }

  sendGroup(room, msg, { id } = {}) {
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
    });
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
    this._versions.delete(room);
    return this._request({ action: 'leaveroom', room });
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
        this._versions.delete(f.room);
        this._emit('full', f);
        break;
      case 'notice':
        if (f.event === 'leave' && f.userId === this.userId) {
          this._joined.delete(f.room);
          this._versions.delete(f.room);
        }
        this._emit('notice', f);
        break;
      case 'error':
        if (!isReply) this._emit('error', new MiniChatError(f.code, f.message, { frame: f }));
        break;
      case 'ack':
      case 'pong':
      case 'login-ok':
        break;
      default:
        this._emit(f.type, f);
    }
    if (isReply) this._settle(f);
  }

  // The reply to our own join is authoritative (a room that emptied while
  // we were away starts again from version 0); pushed updates count only
  // when newer than what we have.
  _update(f, isJoinReply) {
    const have = this._versions.get(f.room);
    if (!isJoinReply && have !== undefined && f.version <= have) return;
    this._versions.set(f.room, f.version);
    this._emit('update', f);
  }

  // The sender's own copy of a group message comes before the ack; when a
  // reconnect lost it (the resend is acked without a push), it is rebuilt
  // from the request so the sender still sees what it said.
  _acked(req, ack) {
    if (req.action === 'group-message') {
      if (!this._seen.has(ack.messageId)) {
        const s = this._session || {};
        this._deliver({
          type: 'group-message', room: req.room, messageId: ack.messageId, msg: req.msg,
          uname: s.username, userId: s.userId, at: ack.at,
        });
      }
      return;
    }
    this._markSeen(ack.messageId);
    if (req.to) this._bump(req.to, ack.messageId);
  }

  _markSeen(id) {
    if (this._seen.has(id)) return false;
    this._seen.add(id);
    if (this._seen.size > MAX_SEEN) this._seen.delete(this._seen.values().next().value);
    return true;
  }

  _bump(peer, id) {
    if (!peer || !id) return;
    const cur = this._lastSeen.get(peer);
    if (!cur || id > cur) this._lastSeen.set(peer, id);
    if (id > this._highWater) this._highWater = id;
  }

  _peerOf(m) {
    return m.from === this.userId ? m.to : m.from;
  }

  _remember(m) {
    this._markSeen(m.messageId);
    if (PRIVATE.has(m.type)) this._bump(this._peerOf(m), m.messageId);
  }

  _deliver(m) {
    if (!m.messageId || !this._markSeen(m.messageId)) return;
    if (PRIVATE.has(m.type)) this._bump(this._peerOf(m), m.messageId);
    if (m.deleted) return;
    this._emit(m.type, m);
  }
}
