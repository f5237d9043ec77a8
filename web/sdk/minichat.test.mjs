// Unit tests of the SDK against a fake WebSocket and a fake fetch:
// `node --test web/sdk/minichat.test.mjs` (web/browser_test.go runs it too).
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { MiniChat, MiniChatError, SUBPROTOCOL, backoffDelay } from './minichat.js';

const ME = '00000000-0000-7000-8000-00000000000a';
const BOB = '00000000-0000-7000-8000-00000000000b';
const SESSION = { userId: ME, username: 'alice', token: 'h.p.s' };

// mid makes message ids that sort like the server's UUIDv7s.
const mid = (n) => `01960000-0000-7000-8000-${String(n).padStart(12, '0')}`;

// until waits for cond; the bound only turns a hang into a failure.
async function until(cond, what) {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// FakeServer stands for the server side of every socket its WebSocket
// class opens: it accepts or refuses them and answers frames the way the
// real server does, unless a test overrides `answer`.
class FakeServer {
  constructor() {
    this.sockets = [];
    this.refuse = 0; // how many next connection attempts to refuse
    this.hang = 0; // how many next connection attempts never complete
    this.acked = new Map(); // client id -> {messageId, seq} (idempotent sends)
    this.seqs = new Map(); // "p:<peer>" or "r:<room>" -> last seq stored
    this.nextMessage = 100;
    this.version = 0;
    this.epoch = 'e1';
    this.online = new Set(); // users presence-state reports online
    this.answer = (ws, f) => this.defaultAnswer(ws, f);
    const server = this;
    this.WebSocket = class {
      constructor(url, protocols) {
        this.url = url;
        this.protocols = protocols;
        this.readyState = 0;
        this.sent = [];
        server.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          if (server.hang > 0) {
            server.hang -= 1;
            return;
          }
          if (server.refuse > 0) {
            server.refuse -= 1;
            this.readyState = 3;
            this.onerror?.({});
            this.onclose?.({ code: 1006 });
            return;
          }
          this.readyState = 1;
          this.onopen?.({});
        }, 0);
      }
      send(data) {
        assert.equal(this.readyState, 1, 'send on a socket that is not open');
        const f = JSON.parse(data);
        this.sent.push(f);
        setTimeout(() => server.answer(this, f), 0);
      }
      close() {
        this.readyState = 3;
      }
      push(frame) {
        if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(frame) });
      }
      // drop is the network failing: the client sees a close it did not ask for.
      drop() {
        this.readyState = 3;
        this.onclose?.({ code: 1006 });
      }
    };
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }

  defaultAnswer(ws, f) {
    switch (f.action) {
      case 'ping':
        ws.push({ type: 'pong', id: f.id });
        break;
      case 'private-message':
      case 'group-message': {
        // As the server: the ack as soon as it is stored, then the room's
        // echo to every seat, the sender's included.
        const where = f.action === 'group-message' ? `r:${f.room}` : `p:${f.to}`;
        if (!this.acked.has(f.id)) {
          const seq = (this.seqs.get(where) || 0) + 1;
          this.seqs.set(where, seq);
          this.acked.set(f.id, { messageId: mid(this.nextMessage++), seq });
        }
        const { messageId, seq } = this.acked.get(f.id);
        if (f.action === 'group-message') {
          ws.push({ type: 'ack', id: f.id, messageId, at: 't', seq, room: f.room, epoch: this.epoch });
          ws.push({ type: 'group-message', room: f.room, epoch: this.epoch, messageId, seq, msg: f.msg, uname: 'alice', userId: ME, at: 't' });
        } else {
          ws.push({ type: 'ack', id: f.id, messageId, at: 't', seq });
        }
        break;
      }
      case 'joinroom':
        this.version += 1;
        ws.push({ type: 'update', id: f.id, room: f.room, epoch: this.epoch, version: this.version, seats: [] });
        break;
      case 'subscribe-presence':
        ws.push({ type: 'presence-state', id: f.id, users: f.userIds.map((userId) => ({ userId, online: this.online.has(userId), lastSeen: null })) });
        break;
      case 'typing':
        break; // no reply without an id
      default:
        ws.push({ type: 'ack', id: f.id });
    }
  }
}

// fakeFetch serves the HTTP routes from `routes`: "GET /api/..." -> body,
// or {status, body, headers}, or a function of the request returning either.
function fakeFetch(routes, calls = []) {
  return async (url, init) => {
    const key = `${init.method} ${url}`;
    calls.push({ key, init });
    const handler = routes[key];
    if (!handler) return new Response(JSON.stringify({ code: 'not-found', message: key }), { status: 404 });
    const out = typeof handler === 'function' ? handler(init) : handler;
    const status = out && out.status ? out.status : 200;
    const body = out && out.status ? out.body : out;
    return new Response(JSON.stringify(body), { status, headers: (out && out.headers) || {} });
  };
}

// Clients of a failed test would keep reconnecting, and node would never exit.
const clients = new Set();
afterEach(() => {
  for (const c of clients) c.close();
  clients.clear();
});

// What a client fetches by itself on connect and on joining the tests' rooms.
const DEFAULT_ROUTES = {
  'GET http://h/api/conversations': [],
  'GET http://h/api/rooms/lobby/messages?limit=50': { messages: [] },
  'GET http://h/api/rooms/games/messages?limit=50': { messages: [] },
};

function client(server, opts = {}) {
  const c = new MiniChat({
    httpUrl: 'http://h',
    wsUrl: 'ws://h/ws',
    WebSocket: server.WebSocket,
    fetch: fakeFetch({ ...DEFAULT_ROUTES, ...opts.routes }, opts.calls),
    session: SESSION,
    backoff: { initialMs: 4, maxMs: 16 },
    random: () => 1,
    requestTimeoutMs: 2000,
    watchNetwork: false,
    ...opts.options,
  });
  clients.add(c);
  return c;
}

function pm(n, from = BOB, extra = {}) {
  return { type: 'private-message', messageId: mid(n), seq: n, from, to: from === BOB ? ME : BOB, content: `m${n}`, at: 't', ...extra };
}

test('backoffDelay grows exponentially to the cap, with half of it random', () => {
  const o = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, { ...o, random: () => 1 })), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, { ...o, random: () => 0 })), [50, 100, 200, 400, 500, 500]);
  const mid = backoffDelay(2, { ...o, random: () => 0.5 });
  assert.ok(mid > 200 && mid < 400, `jittered delay ${mid} between the bounds`);
});

test('connects with the token as a subprotocol, or in the URL when asked', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  assert.deepEqual(server.last.protocols, [SUBPROTOCOL, SESSION.token]);
  assert.equal(server.last.url, 'ws://h/ws');
  c.close();

  const s2 = new FakeServer();
  const q = client(s2, { options: { tokenIn: 'query' } });
  await q.connect();
  assert.equal(s2.last.url, 'ws://h/ws?token=h.p.s');
  assert.equal(s2.last.protocols, undefined);
  q.close();
});

test('reconnects with exponential backoff and resets it once connected', async () => {
  const server = new FakeServer();
  server.refuse = 3;
  const c = client(server);
  const statuses = [];
  const retries = [];
  c.on('status', (s) => statuses.push(s));
  c.on('retry', (r) => retries.push(r.delayMs));
  await c.connect();
  assert.deepEqual(retries, [4, 8, 16]);
  assert.equal(server.sockets.length, 4);

  server.last.drop();
  await until(() => c.status === 'open' && server.sockets.length === 5, 'the reconnect');
  assert.deepEqual(retries, [4, 8, 16, 4], 'backoff starts over after a good connection');
  assert.deepEqual(statuses, ['connecting', 'open', 'reconnecting', 'open']);

  c.close();
  assert.equal(c.status, 'closed');
  assert.deepEqual(statuses.at(-1), 'closed');
});

test('a connection attempt that hangs is abandoned and retried', async () => {
  const server = new FakeServer();
  server.hang = 1;
  const c = client(server, { options: { connectTimeoutMs: 10 } });
  await c.connect();
  assert.equal(server.sockets.length, 2);
  assert.equal(server.sockets[0].readyState, 3, 'the hung attempt was closed');
  c.close();
});

test('requests are acked by id; errors reject with the server code', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const ack = await c.sendPrivate(BOB, 'hi');
  const frame = server.last.sent.find((f) => f.action === 'private-message');
  assert.equal(ack.id, frame.id);
  assert.match(ack.messageId, /^01960000-/);
  assert.ok(frame.id.length > 0 && frame.id.length <= 64);

  server.answer = (ws, f) => ws.push({ type: 'error', id: f.id, code: 'not-found', message: 'no such user' });
  await assert.rejects(c.sendPrivate(BOB, 'x'), (err) => err instanceof MiniChatError && err.code === 'not-found');
  c.close();
});

test('private sends tell the newest seq held of the conversation (lastSeq)', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.sendPrivate(BOB, 'first');
  await c.sendPrivate(BOB, 'second');
  server.last.push(pm(3));
  await c.ping();
  await c.sendPrivate(BOB, 'third');
  server.last.push(pm(6)); // past a hole
  await c.ping();
  await c.sendPrivate(BOB, 'fourth');
  const sent = server.last.sent.filter((f) => f.action === 'private-message');
  assert.deepEqual(sent.map((f) => f.lastSeq), [undefined, 1, 3, 6], 'nothing held, then the ack, then the push, then one past a hole');
  c.close();
});

test('a request without a reply times out', async () => {
  const server = new FakeServer();
  const c = client(server, { options: { requestTimeoutMs: 20 } });
  await c.connect();
  server.answer = () => {};
  await assert.rejects(c.setAvatar('🐳'), (err) => err.code === 'timeout');
  c.close();
});

test('rate-limited sends are retried with the same id', async () => {
  const server = new FakeServer();
  const c = client(server, { options: { rateLimitRetryMs: 1 } });
  await c.connect();
  let refused = 0;
  server.answer = (ws, f) => {
    if (f.action === 'private-message' && refused < 2) {
      refused += 1;
      ws.push({ type: 'error', id: f.id, code: 'rate-limited', message: 'slow down' });
      return;
    }
    server.defaultAnswer(ws, f);
  };
  const ack = await c.sendPrivate(BOB, 'hi');
  const ids = server.last.sent.filter((f) => f.action === 'private-message').map((f) => f.id);
  assert.equal(ids.length, 3);
  assert.equal(new Set(ids).size, 1, 'every retry carries the first id');
  assert.equal(ack.id, ids[0]);
  c.close();
});

test('unacked sends are resent with the same id after a reconnect', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  server.answer = () => {}; // the server stores nothing and answers nothing: the link is dying
  const sending = c.sendPrivate(BOB, 'are you there?');
  await until(() => server.last.sent.some((f) => f.action === 'private-message'), 'the first send');
  const first = server.last.sent.find((f) => f.action === 'private-message');

  server.answer = (ws, f) => server.defaultAnswer(ws, f);
  server.last.drop();
  const queued = c.sendPrivate(BOB, 'sent while offline');
  const [ack, ack2] = await Promise.all([sending, queued]);

  const resent = server.last.sent.filter((f) => f.action === 'private-message');
  assert.equal(server.sockets.length, 2);
  assert.deepEqual(resent.map((f) => f.content), ['are you there?', 'sent while offline'], 'order kept');
  assert.equal(resent[0].id, first.id);
  assert.equal(ack.id, first.id);
  assert.notEqual(ack.messageId, ack2.messageId);
  c.close();
});

test('a resent send that was stored before the drop is not duplicated', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const got = [];
  c.on('group-message', (m) => got.push(m));
  await c.joinRoom('lobby');
  // The server stores the message and pushes it, but the link dies before
  // the push and the ack reach the client.
  server.answer = (ws, f) => {
    if (f.action === 'group-message') {
      server.acked.set(f.id, { messageId: mid(500), seq: 1 });
      ws.drop();
      return;
    }
    server.defaultAnswer(ws, f);
  };
  const sending = c.sendGroup('lobby', 'hello room');
  await until(() => server.sockets.length === 2, 'the reconnect');
  server.answer = (ws, f) => {
    if (f.action === 'group-message') {
      ws.push({ type: 'ack', id: f.id, ...server.acked.get(f.id), at: 't', room: f.room, epoch: 'e1' }); // stored already: no push
      return;
    }
    server.defaultAnswer(ws, f);
  };
  const ack = await sending;
  assert.equal(ack.messageId, mid(500));
  assert.deepEqual(got.map((m) => [m.messageId, m.msg, m.room]), [[mid(500), 'hello room', 'lobby']],
    'the sender sees its message once, rebuilt from the request');
  server.last.push({ type: 'group-message', room: 'lobby', messageId: mid(500), msg: 'hello room', uname: 'alice', userId: ME, at: 't' });
  await c.ping();
  assert.equal(got.length, 1);
  c.close();
});

test('incoming messages are de-duplicated by messageId', async () => {
  const server = new FakeServer();
  const routes = {
    'GET http://h/api/conversations': [],
    [`GET http://h/api/conversations/${BOB}/messages?limit=10`]: { messages: [pm(2), pm(1)] },
  };
  const c = client(server, { routes });
  await c.connect();
  const got = [];
  c.on('private-message', (m) => got.push(m.messageId));
  const page = await c.history(BOB, { limit: 10 });
  assert.equal(page.messages.length, 2);
  server.last.push(pm(2)); // already loaded through history
  server.last.push(pm(3));
  server.last.push(pm(3));
  server.last.push({ type: 'group-message', room: 'r', messageId: mid(4), msg: 'x', uname: 'bob', userId: BOB, at: 't' });
  server.last.push({ type: 'group-message', room: 'r', messageId: mid(4), msg: 'x', uname: 'bob', userId: BOB, at: 't' });
  await c.ping();
  assert.deepEqual(got, [mid(3)]);
  c.close();
});

test('room updates: only the highest version counts; a re-join reply resets it', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const versions = [];
  c.on('update', (u) => versions.push(u.version));
  const joined = await c.joinRoom('lobby');
  assert.equal(joined.type, 'update');
  assert.equal(joined.version, 1);
  const ws = server.last;
  ws.push({ type: 'update', room: 'lobby', epoch: 'e1', version: 3, seats: [] });
  ws.push({ type: 'update', room: 'lobby', epoch: 'e1', version: 2, seats: [] }); // late: dropped
  ws.push({ type: 'update', room: 'lobby', epoch: 'e1', version: 3, seats: [] }); // repeated: dropped
  ws.push({ type: 'update', room: 'lobby', epoch: 'e1', version: 4, seats: [] });
  ws.push({ type: 'update', room: 'other', epoch: 'e9', version: 1, seats: [] }); // rooms are separate
  await c.ping();
  assert.deepEqual(versions, [1, 3, 4, 1]);

  // The room emptied while we were away: its version starts again.
  server.version = 0;
  ws.drop();
  await until(() => versions.length === 5, 'the re-join update');
  assert.deepEqual(versions, [1, 3, 4, 1, 1]);
  c.close();
});

test('rooms are re-joined after a reconnect, before queued group messages go out', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinRoom('lobby');
  await c.joinRoom('games');
  await c.leaveRoom('games');
  server.last.drop();
  const sending = c.sendGroup('lobby', 'back');
  await sending;
  const actions = server.last.sent.filter((f) => f.action !== 'ping').map((f) => `${f.action} ${f.room}`);
  assert.deepEqual(actions, ['joinroom lobby', 'group-message lobby']);
  assert.deepEqual(c.rooms, ['lobby']);

  server.last.push({ type: 'notice', room: 'lobby', event: 'leave', userId: ME, username: 'alice', text: 'alice left the room' });
  await c.ping();
  assert.deepEqual(c.rooms, [], 'leaving on another device leaves here too');
  c.close();
});

test('a full room is reported and not re-joined', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  server.answer = (ws, f) => (f.action === 'joinroom' ? ws.push({ type: 'full', id: f.id, room: f.room }) : server.defaultAnswer(ws, f));
  const fulls = [];
  c.on('full', (f) => fulls.push(f.room));
  const r = await c.joinRoom('busy');
  assert.equal(r.type, 'full');
  assert.deepEqual(fulls, ['busy']);
  assert.deepEqual(c.rooms, []);
  c.close();
});

test('missed private messages are caught up after a reconnect, in order, without duplicates', async () => {
  const server = new FakeServer();
  const conv = (peer, last, unread = 0) => ({ peer: { userId: peer, username: 'x', avatar: '' }, lastMessage: last, unread });
  let convs = [conv(BOB, pm(1))];
  const calls = [];
  const hist = `GET http://h/api/conversations/${BOB}/messages`;
  const routes = {
    'GET http://h/api/conversations': () => convs,
    [`${hist}?after=${mid(1)}&limit=4`]: { messages: [pm(3), pm(2)], next: mid(3) },
    [`${hist}?after=${mid(3)}&limit=2`]: { messages: [pm(5), pm(4, ME)] },
  };
  const c = client(server, { routes, calls });
  const got = [];
  const lists = [];
  c.on('private-message', (m) => got.push([m.messageId, !!m.catchUp]));
  c.on('conversations', (l) => lists.push(l.length));
  await c.connect();
  await until(() => lists.length === 1, 'the baseline');

  server.last.drop();
  server.refuse = 1;
  convs = [conv(BOB, pm(5), 4)];
  await until(() => got.length === 4, 'the caught-up messages');
  assert.deepEqual(got, [[mid(2), true], [mid(3), true], [mid(4), true], [mid(5), true]]);
  await until(() => lists.length === 2, 'the list after the catch-up');
  server.last.push(pm(5)); // also pushed live: not reported again
  server.last.push(pm(6));
  await c.ping();
  assert.deepEqual(got.map(([id]) => id), [mid(2), mid(3), mid(4), mid(5), mid(6)]);

  // Nothing new: catch-up asks only for the conversation list.
  const before = calls.length;
  convs = [conv(BOB, pm(6))];
  server.last.drop();
  await until(() => calls.length === before + 1 && c.status === 'open', 'the second catch-up');
  await c.ping();
  assert.equal(got.length, 5);
  assert.equal(calls[calls.length - 1].key, 'GET http://h/api/conversations');
  c.close();
});

test('after a reconnect each conversation is fetched from the seq it holds; own sends count', async () => {
  const server = new FakeServer();
  const CAROL = '00000000-0000-7000-8000-00000000000c';
  const conv = (peer, last) => ({ peer: { userId: peer, username: 'x', avatar: '' }, lastMessage: last, unread: 0 });
  let convs = [conv(BOB, pm(1))];
  const calls = [];
  const routes = {
    'GET http://h/api/conversations': () => convs,
    // Bob: seq 2 is our own send (acked), so only 3..4 are missing.
    [`GET http://h/api/conversations/${BOB}/messages?after=${mid(2)}&limit=2`]: { messages: [pm(4), pm(3)] },
    // Carol is new: nothing held, so her newest page, as long as her seq says.
    [`GET http://h/api/conversations/${CAROL}/messages?limit=2`]: { messages: [pm(12, CAROL, { seq: 2, to: ME }), pm(11, CAROL, { seq: 1, to: ME })] },
  };
  const c = client(server, { routes, calls });
  const got = [];
  c.on('private-message', (m) => got.push(m.messageId));
  await c.connect();
  await until(() => calls.length === 1, 'the baseline');
  server.seqs.set(`p:${BOB}`, 1);
  server.nextMessage = 2;
  const ack = await c.sendPrivate(BOB, 'mine');
  assert.deepEqual([ack.messageId, ack.seq], [mid(2), 2]);

  convs = [conv(BOB, pm(4)), conv(CAROL, pm(12, CAROL, { seq: 2, to: ME }))];
  server.last.drop();
  await until(() => got.length === 4, 'the missed messages');
  assert.deepEqual(got, [mid(3), mid(4), mid(11), mid(12)]);
  assert.deepEqual(calls.slice(1).map((x) => x.key.replace('http://h', '')), [
    'GET /api/conversations',
    `GET /api/conversations/${BOB}/messages?after=${mid(2)}&limit=2`,
    `GET /api/conversations/${CAROL}/messages?limit=2`,
  ]);
  c.close();
});

test('a hole in live seqs waits for late pushes, then fetches exactly what is missing', async () => {
  const server = new FakeServer();
  const calls = [];
  const hist = `GET http://h/api/conversations/${BOB}/messages`;
  const routes = {
    'GET http://h/api/conversations': [{ peer: { userId: BOB, username: 'bob', avatar: '' }, lastMessage: pm(1), unread: 0 }],
    [`${hist}?after=${mid(4)}&limit=2`]: { messages: [pm(6), pm(5)], next: mid(6) },
  };
  const c = client(server, { routes, calls, options: { gapGraceMs: 40 } });
  const got = [];
  c.on('private-message', (m) => got.push([m.seq, !!m.catchUp]));
  await c.connect();
  await until(() => calls.length === 1, 'the baseline');
  const ws = server.last;
  ws.push(pm(2));
  ws.push(pm(4)); // 3 is late...
  ws.push(pm(3)); // ...and arrives within the grace: nothing to fetch
  ws.push(pm(7)); // 5 and 6 never come
  await until(() => got.length === 6, 'the repaired hole');
  assert.deepEqual(got, [[2, false], [4, false], [3, false], [7, false], [5, true], [6, true]]);
  assert.deepEqual(calls.slice(1).map((x) => x.key), [`${hist}?after=${mid(4)}&limit=2`], 'one fetch, of exactly the hole');
  ws.push(pm(8));
  await c.ping();
  assert.equal(calls.length, 2, 'no hole left');
  c.close();
});

test('a hole below the first message of a new conversation pages back before it', async () => {
  const server = new FakeServer();
  const calls = [];
  const routes = {
    [`GET http://h/api/conversations/${BOB}/messages?before=${mid(3)}&limit=2`]: { messages: [pm(2), pm(1)] },
  };
  const c = client(server, { routes, calls, options: { gapGraceMs: 5 } });
  const got = [];
  c.on('private-message', (m) => got.push(m.seq));
  await c.connect();
  await until(() => calls.length === 1, 'the baseline');
  server.last.push(pm(3)); // a conversation that started after the baseline, its first two lost
  await until(() => got.length === 3, 'the repaired start');
  assert.deepEqual(got, [3, 1, 2]);
  c.close();
});

test('a hole the server cannot fill is reported and stepped over', async () => {
  const server = new FakeServer();
  const routes = {
    'GET http://h/api/conversations': [{ peer: { userId: BOB, username: 'bob', avatar: '' }, lastMessage: pm(1), unread: 0 }],
    [`GET http://h/api/conversations/${BOB}/messages?after=${mid(1)}&limit=1`]: { messages: [] },
  };
  const calls = [];
  const c = client(server, { routes, calls, options: { gapGraceMs: 5 } });
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  await c.connect();
  await until(() => calls.length === 1, 'the baseline');
  server.last.push(pm(3));
  await until(() => errors.length === 1, 'the report');
  assert.deepEqual(errors, ['gap']);
  server.last.push(pm(4)); // contiguous with 3 now
  await c.ping();
  assert.equal(calls.length, 2, 'asked once');
  c.close();
});

test('rooms: history on join, what was missed after a re-join, a new epoch starts over', async () => {
  const server = new FakeServer();
  const calls = [];
  const g = (n, epoch = 'e1', seq = n) => ({ type: 'group-message', room: 'lobby', epoch, messageId: mid(n), seq, msg: `g${n}`, uname: 'bob', userId: BOB, at: 't' });
  const hist = 'GET http://h/api/rooms/lobby/messages';
  const routes = {
    [`${hist}?limit=50`]: () => (server.epoch === 'e1' ? { messages: [g(2), g(1)] } : { messages: [] }),
    [`${hist}?after=${mid(3)}&limit=100`]: { messages: [g(5), g(4)] },
    [`${hist}?after=${mid(6)}&limit=1`]: { messages: [g(7)] },
  };
  const c = client(server, { routes, calls, options: { gapGraceMs: 5 } });
  const got = [];
  const resets = [];
  c.on('group-message', (m) => got.push(`${m.msg}${m.catchUp ? '*' : ''}`));
  c.on('room-reset', (r) => resets.push(r));
  await c.connect();
  await c.joinRoom('lobby');
  await until(() => got.length === 2, 'the history of the room');
  server.last.push(g(3));
  await c.ping();
  assert.deepEqual(got, ['g1*', 'g2*', 'g3']);

  server.last.drop(); // the re-join fetches 4 and 5, said meanwhile
  await until(() => got.length === 5, 'the missed room messages');
  server.last.push(g(6));
  server.last.push(g(8)); // 7 lost: fetched after the grace
  await until(() => got.length === 8, 'the repaired room hole');
  assert.deepEqual(got, ['g1*', 'g2*', 'g3', 'g4*', 'g5*', 'g6', 'g8', 'g7*']);

  server.epoch = 'e2'; // everyone left while we were away: a new room
  server.last.drop();
  await until(() => resets.length === 1, 'the reset');
  assert.deepEqual(resets, [{ room: 'lobby', epoch: 'e2', previousEpoch: 'e1' }]);
  await until(() => calls.filter((x) => x.key === `${hist}?limit=50`).length === 2, 'the new epoch\'s history');
  server.last.push(g(20, 'e2', 1)); // seq 1 of the new epoch: no hole
  await c.ping();
  assert.equal(got.at(-1), 'g20');
  assert.ok(!calls.some((x) => x.key.includes('before=')), 'nothing fetched for the new epoch');
  c.close();
});

test('room history pages through roomHistory()', async () => {
  const server = new FakeServer();
  const routes = { 'GET http://h/api/rooms/lobby/messages?before=m&limit=2': { messages: [], next: undefined } };
  const calls = [];
  const c = client(server, { routes, calls });
  await c.connect();
  const page = await c.roomHistory('lobby', { before: 'm', limit: 2 });
  assert.deepEqual(page.messages, []);
  assert.equal(calls.at(-1).init.headers.Authorization, `Bearer ${SESSION.token}`);
  c.close();
});

test('rate limits: the wait the server tells is honoured, on WebSocket and HTTP', async () => {
  const server = new FakeServer();
  let refused = 0;
  const sentAt = [];
  server.answer = (ws, f) => {
    if (f.action === 'private-message') {
      sentAt.push(Date.now());
      if (refused++ === 0) {
        ws.push({ type: 'error', id: f.id, code: 'rate-limited', message: 'slow down', retryAfterMs: 60 });
        return;
      }
    }
    server.defaultAnswer(ws, f);
  };
  let tries = 0;
  const routes = {
    [`GET http://h/api/conversations/${BOB}/messages?limit=1`]: () =>
      tries++ === 0 ? { status: 429, body: { code: 'rate-limited', message: 'slow down' }, headers: { 'Retry-After': '0' } } : { messages: [] },
    'POST http://h/api/files': { status: 429, body: { code: 'rate-limited', message: 'slow down' }, headers: { 'Retry-After': '3' } },
  };
  // A fallback wait this long would time the test out: only the told wait is used.
  const c = client(server, { routes, options: { rateLimitRetryMs: 60000 } });
  await c.connect();
  await c.sendPrivate(BOB, 'hi');
  assert.equal(sentAt.length, 2);
  assert.ok(sentAt[1] - sentAt[0] >= 50, `resent after the ${sentAt[1] - sentAt[0]} ms the server asked for`);

  await c.history(BOB, { limit: 1 });
  assert.equal(tries, 2, 'the GET was retried after Retry-After');
  await assert.rejects(c.sendFile(BOB, new Blob(['x'])), (e) => e.code === 'rate-limited' && e.retryAfterMs === 3000);
  c.close();
});

test('presence: the state on subscribe, pushes, and a new subscription after a reconnect', async () => {
  const server = new FakeServer();
  const CAROL = '00000000-0000-7000-8000-00000000000c';
  server.online.add(BOB);
  const c = client(server);
  const seen = [];
  c.on('presence', (p) => seen.push(`${p.userId === BOB ? 'bob' : 'carol'}:${p.online ? 'on' : 'off'}`));
  await c.connect();
  const state = await c.subscribePresence([BOB, CAROL, BOB]);
  assert.deepEqual(state.map((p) => p.online), [true, false]);
  assert.deepEqual(seen, ['bob:on', 'carol:off']);
  const subs = () => server.sockets.flatMap((s) => s.sent).filter((f) => f.action === 'subscribe-presence');
  assert.deepEqual(subs().map((f) => f.userIds), [[BOB, CAROL]], 'one frame, no repeats');

  await c.subscribePresence([BOB]);
  assert.equal(subs().length, 1, 'who is watched already costs no frame');

  server.last.push({ type: 'presence', userId: BOB, online: false, lastSeen: '2030-01-01T00:00:00.000Z' });
  server.last.push({ type: 'presence', userId: '00000000-0000-7000-8000-0000000000ff', online: true, lastSeen: null }); // not ours
  await c.ping();
  assert.deepEqual(seen, ['bob:on', 'carol:off', 'bob:off']);
  assert.deepEqual(c.presence(BOB), { userId: BOB, online: false, lastSeen: '2030-01-01T00:00:00.000Z' });

  server.online.add(CAROL);
  server.last.drop();
  await until(() => seen.length === 5, 'the state after the reconnect');
  assert.deepEqual(subs().at(-1).userIds, [BOB, CAROL]);
  assert.deepEqual(seen.slice(3), ['bob:on', 'carol:on']);

  await c.unsubscribePresence([CAROL]);
  assert.deepEqual(server.last.sent.at(-1), { action: 'unsubscribe-presence', userIds: [CAROL], id: server.last.sent.at(-1).id });
  c.close();
});

test('typing out: start at most every typingRepeatMs, stop only after a start', async () => {
  const server = new FakeServer();
  const c = client(server, { options: { typingRepeatMs: 40 } });
  await c.connect();
  const typing = () => server.last.sent.filter((f) => f.action === 'typing').map((f) => `${f.to ? 'to' : f.room}:${f.state}`);
  c.stopTyping({ to: BOB }); // nothing started
  c.typing({ to: BOB });
  c.typing({ to: BOB });
  c.typing({ room: 'lobby' });
  assert.deepEqual(typing(), ['to:start', 'lobby:start']);
  await new Promise((r) => setTimeout(r, 50));
  c.typing({ to: BOB }); // still typing: the start is repeated
  c.stopTyping({ to: BOB });
  c.stopTyping({ to: BOB });
  assert.deepEqual(typing(), ['to:start', 'lobby:start', 'to:start', 'to:stop']);
  await c.sendGroup('lobby', 'done'); // a send ends the typing: the next keystroke starts again
  c.typing({ room: 'lobby' });
  assert.deepEqual(typing().slice(4), ['lobby:start']);
  assert.ok(server.last.sent.filter((f) => f.action === 'typing').every((f) => f.id === undefined), 'no id: no reply to wait for');
  assert.throws(() => c.typing({}), (e) => e.code === 'bad-request');
  c.close();
});

test('typing in: shown until a stop, a message, or typingShowMs after the last start', async () => {
  const server = new FakeServer();
  // Long enough for the pushes and a ping on a loaded machine, short for a test.
  const c = client(server, { options: { typingShowMs: 150 } });
  const seen = [];
  c.on('typing', (t) => seen.push(`${t.room || 'dm'}:${t.username}:${t.state}${t.expired ? ':expired' : ''}`));
  await c.connect();
  const ws = server.last;
  const start = { type: 'typing', from: BOB, username: 'bob', to: ME, state: 'start' };
  ws.push(start);
  ws.push(start); // a repeat changes nothing but the deadline
  ws.push({ ...start, state: 'stop' });
  ws.push(start);
  ws.push(pm(1)); // bob's message ends his typing
  ws.push({ type: 'typing', from: BOB, username: 'bob', room: 'lobby', epoch: 'e1', state: 'start' });
  await c.ping();
  assert.deepEqual(seen, ['dm:bob:start', 'dm:bob:stop', 'dm:bob:start', 'dm:bob:stop', 'lobby:bob:start']);
  await until(() => seen.length === 6, 'the expiry');
  assert.equal(seen[5], 'lobby:bob:stop:expired');
  c.close();
});

test('read markers: markRead sends only what moves the marker; read pushes are emitted', async () => {
  const server = new FakeServer();
  const c = client(server);
  const reads = [];
  c.on('read', (r) => reads.push(`${r.by === BOB ? 'bob' : 'me'}:${r.messageId}`));
  await c.connect();
  await c.markRead(BOB, mid(5));
  await c.markRead(BOB, mid(4)); // older: the server would ignore it
  await c.markRead(BOB, mid(5));
  const sent = () => server.last.sent.filter((f) => f.action === 'read').map((f) => [f.peerId, f.messageId]);
  assert.deepEqual(sent(), [[BOB, mid(5)]]);

  server.last.push({ type: 'read', chatWith: BOB, by: BOB, messageId: mid(3), at: 't' }); // bob read ours
  server.last.push({ type: 'read', chatWith: BOB, by: ME, messageId: mid(9), at: 't' }); // read on another device
  await c.ping();
  assert.deepEqual(reads, [`bob:${mid(3)}`, `me:${mid(9)}`]);
  await c.markRead(BOB, mid(8));
  assert.equal(sent().length, 1, 'the other device read further already');
  c.close();
});

test('setAvatarImage uploads with purpose avatar, sets it, and reads back the avatarUrl', async () => {
  const server = new FakeServer();
  const avatarUrl = `/api/users/${ME}/avatar?v=7`;
  const routes = {
    'POST http://h/api/files': (init) => {
      assert.deepEqual(JSON.parse(init.body), { purpose: 'avatar', fileName: 'me.png', fileType: 'image/png', size: 3 });
      return { fileKey: 'avatars/up/k', upload: { method: 'POST', url: 'http://s3/b', fields: { key: 'avatars/up/k' } } };
    },
    'POST http://s3/b': {},
    'GET http://h/api/users?prefix=alice': [
      { userId: ME, username: 'alice', avatar: '🦊', avatarUrl },
      { userId: BOB, username: 'alice2', avatar: '', avatarUrl: null },
    ],
  };
  const c = client(server, { routes });
  await c.connect();
  const me = await c.setAvatarImage(new File([new Uint8Array(3)], 'me.png', { type: 'image/png' }));
  assert.equal(me.avatarUrl, avatarUrl);
  const frame = server.last.sent.find((f) => f.action === 'avatar-updated');
  assert.equal(frame.avatarFileKey, 'avatars/up/k');
  assert.equal(c.avatarSrc(me), `http://h${avatarUrl}`, 'relative to the HTTP API');
  assert.equal(c.avatarSrc({ avatarUrl: null }), null);
  c.close();
});

test('a socket that stops answering pings is replaced', async () => {
  const server = new FakeServer();
  // Pings go out more often than the deadline: it must still expire.
  const c = client(server, { options: { heartbeatMs: 2, pongTimeoutMs: 10 } });
  await c.connect();
  const first = server.last;
  server.answer = (ws, f) => (f.action === 'ping' && ws === first ? undefined : server.defaultAnswer(ws, f));
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  await until(() => server.sockets.length === 2 && c.status === 'open', 'a new connection');
  assert.ok(first.sent.some((f) => f.action === 'ping'), 'the dead socket was pinged');
  assert.ok(errors.includes('timeout'));
  c.close();
});

test('HTTP errors carry the server code and status', async () => {
  const server = new FakeServer();
  const routes = {
    'POST http://h/api/auth/login': { status: 401, body: { code: 'unauthorized', message: 'wrong username or password' } },
    'POST http://h/api/auth/register': (init) => ({ status: 201, body: { ...SESSION, username: JSON.parse(init.body).username } }),
  };
  const c = new MiniChat({ httpUrl: 'http://h/api/', wsUrl: 'ws://h/ws', WebSocket: server.WebSocket, fetch: fakeFetch(routes) });
  await assert.rejects(c.login('alice', 'nope-nope'), (e) => e.code === 'unauthorized' && e.status === 401);
  const s = await c.register('alice', 'password123');
  assert.equal(c.session.token, SESSION.token);
  assert.equal(s.username, 'alice');
  assert.equal(c.userId, ME);
});

test('an expired session is refused before connecting', async () => {
  const server = new FakeServer();
  const c = client(server, { options: { session: { ...SESSION, expiresAt: '2000-01-01T00:00:00.000Z' } } });
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  await assert.rejects(c.connect(), (e) => e.code === 'closed');
  assert.deepEqual(errors, ['unauthorized']);
  assert.equal(server.sockets.length, 0);
  assert.equal(c.status, 'closed');
});

test('listeners can unsubscribe, and one that throws does not stop the others', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const got = [];
  const off = c.on('notice', (n) => got.push(`a:${n.text}`));
  c.on('notice', () => {
    throw new Error('listener bug');
  });
  c.on('notice', (n) => got.push(`b:${n.text}`));
  // Listener errors are rethrown in a microtask; catch them there.
  const reported = [];
  const queue = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn) => {
    try {
      fn();
    } catch (err) {
      reported.push(err.message);
    }
  };
  try {
    server.last.push({ type: 'notice', room: 'r', event: 'join', userId: BOB, username: 'bob', text: 'one' });
    off();
    server.last.push({ type: 'notice', room: 'r', event: 'join', userId: BOB, username: 'bob', text: 'two' });
  } finally {
    globalThis.queueMicrotask = queue;
  }
  await c.ping();
  assert.deepEqual(got, ['a:one', 'b:one', 'b:two']);
  assert.deepEqual(reported, ['listener bug', 'listener bug']);
  c.close();
});

test('sendFile uploads through the presigned POST, then announces the file', async () => {
  const server = new FakeServer();
  const uploads = [];
  const routes = {
    'GET http://h/api/conversations': [],
    'POST http://h/api/files': (init) => {
      const req = JSON.parse(init.body);
      assert.deepEqual(req, { fileName: 'pic.png', fileType: 'image/png', size: 4, to: BOB });
      return { fileKey: 'uploads/pending/k', upload: { method: 'POST', url: 'http://s3/b', fields: { key: 'uploads/pending/k', policy: 'p' } } };
    },
    'POST http://s3/b': (init) => {
      uploads.push([...init.body.entries()].map(([k, v]) => (typeof v === 'string' ? `${k}=${v}` : `${k}:${v.name}:${v.size}`)));
      return uploads.length === 1 ? {} : { status: 403, body: {} };
    },
  };
  const c = client(server, { routes });
  await c.connect();
  server.answer = (ws, f) => ws.push({ type: 'ack', id: f.id, messageId: mid(7), at: 't' });
  const ack = await c.sendFile(BOB, new Blob([new Uint8Array(4)], { type: 'image/png' }), { fileName: 'pic.png' });
  assert.equal(ack.messageId, mid(7));
  assert.deepEqual(uploads[0], ['key=uploads/pending/k', 'policy=p', 'file:pic.png:4'], 'the policy fields first, the file last');
  const frame = server.last.sent.find((f) => f.action === 'private-file-message');
  assert.deepEqual({ ...frame, id: undefined }, {
    action: 'private-file-message', id: undefined, to: BOB, fileKey: 'uploads/pending/k', fileName: 'pic.png', fileType: 'image/png', messageType: 'image',
  });

  const sent = server.last.sent.length;
  await assert.rejects(c.sendFile(BOB, new Blob([new Uint8Array(4)], { type: 'image/png' }), { fileName: 'pic.png' }), (e) => e.code === 'upload-failed' && e.status === 403);
  assert.equal(server.last.sent.length, sent, 'nothing announced after a failed upload');
  c.close();
});
