// The reference web client of minichat, on the SDK in ../sdk/minichat.js.
// Every piece of user data reaches the page through textContent or
// createTextNode, never as HTML; image URLs go through safeUrl. Gap repair
// (missed and reordered messages) is the SDK's: the client shows what the
// SDK emits, sorted by messageId.
import { MiniChat } from '../sdk/minichat.js';

const $ = (id) => document.getElementById(id);
const AVATARS = ['😀', '😎', '🤓', '🥳', '🦊', '🐼', '🐸', '🐙', '🦉', '🐯', '🐨', '🦄', '🐳', '🌵', '🍕', '🚀'];
const PAGE = 30;
const STATUS_TEXT = { idle: 'offline', connecting: 'connecting…', open: 'online', reconnecting: 'reconnecting…', closed: 'offline' };

// Settings and session ----------------------------------------------------------

// A site the stack hosts (HostWebClient, pkg/website) has a config.json next to
// this page naming the stack's URLs. That site is HTTPS only; a plain-HTTP page
// (`minichat serve`) has none and is its own server, so it does not ask.
async function loadSiteConfig() {
  if (location.protocol !== 'https:') return {};
  try {
    const res = await fetch('./config.json', { cache: 'no-cache' });
    if (!res.ok) return {};
    const c = await res.json();
    const text = (v) => (typeof v === 'string' ? v : '');
    return { wsUrl: text(c.webSocketUrl), httpUrl: text(c.httpApiUrl) };
  } catch {
    return {};
  }
}

const site = await loadSiteConfig();

function defaultSettings() {
  return {
    wsUrl: site.wsUrl || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
    httpUrl: site.httpUrl || '',
  };
}

function loadJSON(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function settings() {
  const s = loadJSON('minichat.settings') || {};
  const d = defaultSettings();
  return { wsUrl: s.wsUrl || d.wsUrl, httpUrl: s.httpUrl || d.httpUrl };
}

const chat = new MiniChat(settings());

// State -------------------------------------------------------------------------

const state = {
  me: null, // {userId, username, avatar, avatarUrl}
  users: new Map(), // userId -> {userId, username, avatar, avatarUrl, online, lastSeen}
  convs: new Map(), // peer userId -> {peer, messages: Map, last, unread, loaded, next, readUpTo, peerReadUpTo, listLast}
  rooms: new Map(), // room -> {seats, version, items: [{key, item}], full}
  open: null, // {kind: 'private', peer} | {kind: 'room', room}
  typingPeers: new Set(), // peers typing to us
  typingRooms: new Map(), // room -> Map(userId -> username) of who types there
};

// user returns the one record of a user; `known` once the server has
// described it (name and avatar), rather than a message mentioning it.
function user(userId, username) {
  let u = state.users.get(userId);
  if (!u) {
    u = { userId, username: username || '…', avatar: '', avatarUrl: null, online: false, lastSeen: null, known: false };
    state.users.set(userId, u);
  } else if (username && u.username === '…') {
    u.username = username;
  }
  return u;
}

function conv(peerId, name) {
  let c = state.convs.get(peerId);
  if (!c) {
    c = {
      peer: user(peerId, name), messages: new Map(), last: null, unread: 0, loaded: false, next: null,
      readUpTo: null, peerReadUpTo: null,
      // The newest message the server's unread count covered: messages up
      // to it that the SDK reports later (catch-up) are counted already.
      listLast: '',
    };
    state.convs.set(peerId, c);
  }
  return c;
}

// DOM helpers -------------------------------------------------------------------

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function avatarEl(u, size) {
  const a = el('span', `avatar${size ? ` ${size}` : ''}`);
  fillAvatar(a, u);
  return a;
}

// fillAvatar shows the user's picture, else their emoji, else their
// initial. The picture is decorative (the name is always next to it), and a
// picture that fails to load falls back to the emoji.
function fillAvatar(a, u, fallback) {
  const text = fallback || (u && u.avatar) || '';
  const showText = () => {
    a.textContent = text || (u && u.username ? u.username.slice(0, 1).toUpperCase() : '?');
    a.classList.toggle('letter', !text);
    a.classList.remove('picture');
  };
  const raw = chat.avatarSrc(u);
  const src = raw && safeUrl(raw);
  const img = a.querySelector('img');
  if (src && img && img.getAttribute('src') === src) return;
  if (!src) {
    showText();
    return;
  }
  const pic = el('img');
  pic.alt = '';
  pic.src = src;
  pic.addEventListener('error', showText, { once: true });
  a.replaceChildren(pic);
  a.classList.remove('letter');
  a.classList.add('picture');
}

// withPresence wraps an avatar with the dot that says its user is online.
function withPresence(avatar, u) {
  const wrap = el('span', 'avatar-wrap');
  wrap.append(avatar);
  if (u.online) wrap.append(presenceDot());
  return wrap;
}

function presenceDot() {
  const dot = el('span', 'presence');
  dot.setAttribute('role', 'img');
  dot.setAttribute('aria-label', 'online');
  return dot;
}

// lastSeenText says when a user was last online, in the reader's time.
function lastSeenText(u) {
  if (u.online) return 'online';
  const d = new Date(u.lastSeen || '');
  if (!u.lastSeen || Number.isNaN(d.getTime())) return '';
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((day(new Date()) - day(d)) / 86400000);
  if (days === 0) return `last seen today at ${time(u.lastSeen)}`;
  if (days === 1) return `last seen yesterday at ${time(u.lastSeen)}`;
  return `last seen ${d.toLocaleDateString([], { day: 'numeric', month: 'short' })}`;
}

function time(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// insertSorted keeps a list ordered by data-sort (message ids sort by time),
// whatever order messages arrive in.
function insertSorted(list, node) {
  const key = node.dataset.sort;
  let after = list.lastElementChild;
  while (after && after.dataset.sort > key) after = after.previousElementSibling;
  list.insertBefore(node, after ? after.nextElementSibling : list.firstElementChild);
}

function nearBottom(scroller) {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function toBottom(scroller) {
  scroller.scrollTop = scroller.scrollHeight;
}

let toastTimer;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
  }, 5000);
}

function errorText(err) {
  if (!err) return 'something went wrong';
  if (err.code === 'network') return 'cannot reach the server';
  return err.message || err.code || String(err);
}

// Only links the server could have made: never javascript: or data:.
function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return ['https:', 'http:', 'blob:'].includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

// Views -------------------------------------------------------------------------

function showLoggedIn(on) {
  $('login-view').hidden = on;
  $('chat-view').hidden = !on;
  $('me').hidden = !on;
  $('logout').hidden = !on;
}

function setStatus(s) {
  $('status').dataset.status = s;
  $('status-text').textContent = STATUS_TEXT[s] || s;
}

function renderMe() {
  if (!state.me) return;
  fillAvatar($('me-avatar'), state.me);
  $('me-name').textContent = state.me.username;
}

function preview(m) {
  if (!m) return '';
  if (m.deleted) return 'message deleted';
  const mine = m.from === state.me.userId ? 'You: ' : '';
  if (m.type === 'private-file-message') return `${mine}${m.messageType === 'image' ? '🖼️' : '📎'} ${m.fileName || 'file'}`;
  return mine + (m.content || '');
}

function renderConversations() {
  const list = $('conversations');
  const convs = [...state.convs.values()]
    .filter((c) => c.last || c.messages.size || (state.open && state.open.peer === c.peer.userId))
    .sort((a, b) => ((b.last && b.last.messageId) || '~').localeCompare((a.last && a.last.messageId) || '~'));
  list.replaceChildren(
    ...convs.map((c) => {
      const li = el('li');
      const b = el('button', 'item');
      b.type = 'button';
      b.dataset.peer = c.peer.userId;
      if (state.open && state.open.peer === c.peer.userId) b.classList.add('active');
      b.append(withPresence(avatarEl(c.peer), c.peer));
      const text = el('span', 'item-text');
      const line = el('span', 'item-line');
      line.append(el('span', 'item-name', c.peer.username));
      if (!c.peer.online && c.peer.lastSeen) line.append(el('span', 'item-seen', lastSeenText(c.peer)));
      const typing = state.typingPeers.has(c.peer.userId);
      text.append(line, el('span', `item-preview${typing ? ' typing' : ''}`, typing ? 'typing…' : preview(c.last)));
      b.append(text);
      if (c.unread > 0) {
        const badge = el('span', 'badge', c.unread > 99 ? '99+' : c.unread);
        badge.setAttribute('aria-label', `${c.unread} unread`);
        b.append(badge);
      }
      b.addEventListener('click', () => openPrivate(c.peer.userId));
      li.append(b);
      return li;
    }),
  );
  $('no-conversations').hidden = convs.length > 0;
}

function renderRoomList() {
  $('rooms').replaceChildren(
    ...[...state.rooms.keys()].map((name) => {
      const r = state.rooms.get(name);
      const li = el('li');
      const b = el('button', 'item');
      b.type = 'button';
      b.dataset.room = name;
      if (state.open && state.open.room === name) b.classList.add('active');
      b.append(el('span', 'avatar', '#'));
      const text = el('span', 'item-text');
      const taken = r.seats ? r.seats.filter((s) => s.userId).length : 0;
      text.append(el('span', 'item-name', name), el('span', 'item-preview', r.full ? 'full' : `${taken}/8 seated`));
      b.append(text);
      b.addEventListener('click', () => openRoom(name));
      li.append(b);
      return li;
    }),
  );
}

function showPane(kind) {
  $('empty-pane').hidden = kind !== null;
  $('private-pane').hidden = kind !== 'private';
  $('room-pane').hidden = kind !== 'room';
  document.body.classList.toggle('pane-open', kind !== null);
}

function closePane() {
  stopTyping();
  state.open = null;
  showPane(null);
  renderConversations();
  renderRoomList();
}

// Private chat -------------------------------------------------------------------

function messageEl(m) {
  const mine = m.from === state.me.userId;
  const li = el('li', `msg ${mine ? 'mine' : 'theirs'}`);
  li.dataset.id = m.messageId;
  li.dataset.sort = m.messageId;
  fillMessage(li, m);
  return li;
}

function fillMessage(li, m) {
  const mine = m.from === state.me.userId;
  const bubble = el('div', 'bubble');
  li.classList.toggle('deleted', !!m.deleted);
  if (m.deleted) {
    bubble.append(el('span', 'text', 'This message was deleted'));
  } else if (m.type === 'private-file-message') {
    bubble.append(fileEl(m));
  } else {
    bubble.append(el('span', 'text', m.content));
  }
  const meta = el('div', 'meta');
  meta.append(el('time', null, time(m.at)));
  if (mine && !m.deleted && m.messageId) meta.append(tickEl(m), deleteButton(m));
  li.replaceChildren(bubble, meta);
}

// tickEl says whether the peer has read one of our messages: one tick when
// stored, two once their read marker reached it.
function tickEl(m) {
  const t = el('span', 'tick');
  setTick(t, m);
  return t;
}

function setTick(t, m) {
  const c = state.convs.get(m.to);
  const read = !!(c && c.peerReadUpTo && c.peerReadUpTo >= m.messageId);
  t.textContent = read ? '✓✓' : '✓';
  t.classList.toggle('read', read);
  t.setAttribute('aria-label', read ? 'read' : 'sent');
  t.title = read ? 'Read' : 'Sent';
}

function peerRead(peerId, messageId) {
  const c = conv(peerId);
  if (c.peerReadUpTo && c.peerReadUpTo >= messageId) return;
  c.peerReadUpTo = messageId;
  if (!(state.open && state.open.peer === peerId)) return;
  for (const li of $('private-messages').querySelectorAll('li.msg.mine[data-id]')) {
    const m = c.messages.get(li.dataset.id);
    const t = li.querySelector('.tick');
    if (m && t) setTick(t, m);
  }
}

// A file message: images inline, other files as a download link.
function fileEl(m) {
  const url = safeUrl(m.fileUrl);
  if (!url) return el('span', 'text', `${m.fileName || 'file'} (link expired)`);
  if (m.messageType === 'image') {
    const img = el('img', 'image');
    img.src = url;
    img.alt = m.fileName || 'image';
    img.loading = 'lazy';
    return img;
  }
  const a = el('a', 'file', `📎 ${m.fileName || 'file'}`);
  a.href = url;
  a.download = m.fileName || '';
  a.rel = 'noopener noreferrer';
  a.target = '_blank';
  return a;
}

// Two clicks delete: no confirm() dialog.
function deleteButton(m) {
  const b = el('button', 'delete link', 'Delete');
  b.type = 'button';
  b.addEventListener('click', async () => {
    if (!b.classList.contains('confirm')) {
      b.classList.add('confirm');
      b.textContent = 'Delete?';
      setTimeout(() => {
        b.classList.remove('confirm');
        b.textContent = 'Delete';
      }, 4000);
      return;
    }
    b.disabled = true;
    try {
      await chat.deleteMessage(m.messageId);
      markDeleted(m.messageId, m.to);
    } catch (err) {
      b.disabled = false;
      toast(`Could not delete: ${errorText(err)}`);
    }
  });
  return b;
}

function markDeleted(messageId, peerId) {
  const c = state.convs.get(peerId);
  if (!c) return;
  const m = c.messages.get(messageId);
  if (m) {
    delete m.content;
    m.deleted = true;
  }
  if (c.last && c.last.messageId === messageId) c.last = { ...c.last, deleted: true };
  if (state.open && state.open.peer === peerId) {
    const li = $('private-messages').querySelector(`li[data-id="${CSS.escape(messageId)}"]`);
    if (li && m) fillMessage(li, m);
  }
  renderConversations();
}

function addPrivate(m) {
  const peerId = m.from === state.me.userId ? m.to : m.from;
  const c = conv(peerId, m.from === state.me.userId ? undefined : m.fromName);
  const known = c.messages.has(m.messageId);
  c.messages.set(m.messageId, m);
  if (!c.last || m.messageId >= c.last.messageId) c.last = m;
  const open = state.open && state.open.peer === peerId;
  if (open) {
    const list = $('private-messages');
    const scroller = $('private-scroll');
    const stick = nearBottom(scroller) || m.from === state.me.userId;
    const old = list.querySelector(`li[data-id="${CSS.escape(m.messageId)}"]`);
    if (old) fillMessage(old, m);
    else insertSorted(list, messageEl(m));
    if (stick) toBottom(scroller);
  }
  return { c, known, open };
}

function onIncomingPrivate(m) {
  const { c, known, open } = addPrivate(m);
  if (!known && m.from !== state.me.userId) {
    if (open && !document.hidden) markReadSoon(c.peer.userId);
    else if (m.messageId > c.listLast && !(c.readUpTo && c.readUpTo >= m.messageId)) c.unread += 1;
  }
  if (!c.peer.known) {
    c.peer.known = true;
    // A new peer: its avatar, or (for a message sent from another device of
    // ours) even its name, comes from the server.
    if (c.peer.username === '…') loadConversations();
    else lookUp(c.peer.username);
  }
  renderConversations();
}

// A conversation is read when it is open on a visible page: its read
// marker moves to the peer's newest message (a burst of messages moves it
// once), which clears the unread count here, on our other devices and on
// the server, and shows the peer two ticks.
const readTimers = new Map();
function markReadSoon(peerId) {
  clearTimeout(readTimers.get(peerId));
  readTimers.set(peerId, setTimeout(() => {
    readTimers.delete(peerId);
    markRead(peerId);
  }, 300));
}

function markRead(peerId) {
  const c = state.convs.get(peerId);
  if (!c || document.hidden || !(state.open && state.open.peer === peerId)) return;
  let newest = c.last && c.last.from === peerId ? c.last.messageId : '';
  for (const m of c.messages.values()) if (m.from === peerId && m.messageId > newest) newest = m.messageId;
  if (c.unread) {
    c.unread = 0;
    renderConversations();
  }
  if (!newest || (c.readUpTo && c.readUpTo >= newest)) return;
  c.readUpTo = newest;
  chat.markRead(peerId, newest).catch((err) => toast(`Could not mark the conversation read: ${errorText(err)}`));
}

function renderPeerHeader() {
  if (!state.open || !state.open.peer) return;
  const u = conv(state.open.peer).peer;
  fillAvatar($('peer-avatar'), u);
  $('peer-dot').hidden = !u.online;
  $('peer-name').textContent = u.username;
  $('peer-presence').textContent = lastSeenText(u);
  $('private-typing').textContent = state.typingPeers.has(u.userId) ? `${u.username} is typing…` : '';
}

async function openPrivate(peerId) {
  stopTyping();
  const c = conv(peerId);
  state.open = { kind: 'private', peer: peerId };
  showPane('private');
  renderPeerHeader();
  // Someone found by search has no conversation (so no presence) yet.
  chat.subscribePresence([peerId]).catch(() => {});
  const list = $('private-messages');
  list.replaceChildren(...[...c.messages.values()].sort((a, b) => a.messageId.localeCompare(b.messageId)).map(messageEl));
  $('load-older').hidden = !c.next;
  renderConversations();
  renderRoomList();
  toBottom($('private-scroll'));
  $('private-input').focus();
  try {
    if (!c.loaded) {
      const page = await chat.history(peerId, { limit: PAGE });
      c.loaded = true;
      c.next = page.next || null;
      for (const m of page.messages) addPrivate(m);
      if (state.open && state.open.peer === peerId) {
        $('load-older').hidden = !c.next;
        toBottom($('private-scroll'));
      }
    }
    markRead(peerId);
  } catch (err) {
    toast(`Could not load messages: ${errorText(err)}`);
  }
  renderConversations();
}

async function loadOlder() {
  const peerId = state.open && state.open.peer;
  const c = peerId && state.convs.get(peerId);
  if (!c || !c.next) return;
  const button = $('load-older');
  button.disabled = true;
  const scroller = $('private-scroll');
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  try {
    const page = await chat.history(peerId, { before: c.next, limit: PAGE });
    c.next = page.next || null;
    for (const m of page.messages) addPrivate(m);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
  } catch (err) {
    toast(`Could not load older messages: ${errorText(err)}`);
  } finally {
    button.disabled = false;
    button.hidden = !c.next;
  }
}

let pendingSeq = 0;
// pendingEl shows a message on its way; `settle` replaces it by the stored
// message, or offers a retry.
function pendingEl(label) {
  const li = el('li', 'msg mine pending');
  pendingSeq += 1;
  li.dataset.sort = `~${String(pendingSeq).padStart(8, '0')}`;
  const bubble = el('div', 'bubble');
  bubble.append(el('span', 'text', label));
  const meta = el('div', 'meta');
  meta.append(el('span', 'state', 'sending…'));
  li.append(bubble, meta);
  $('private-messages').append(li);
  toBottom($('private-scroll'));
  return {
    done(m) {
      li.remove();
      addPrivate(m);
      renderConversations();
    },
    failed(err, retry) {
      li.classList.add('failed');
      const b = el('button', 'link', 'Retry');
      b.type = 'button';
      b.addEventListener('click', () => {
        li.remove();
        retry();
      });
      meta.replaceChildren(el('span', 'state', `not sent: ${errorText(err)}`), b);
    },
  };
}

function sendPrivate(text, peerId, id = crypto.randomUUID()) {
  const p = pendingEl(text);
  chat.sendPrivate(peerId, text, { id }).then(
    (ack) => p.done({ type: 'private-message', messageId: ack.messageId, from: state.me.userId, to: peerId, content: text, at: ack.at }),
    (err) => p.failed(err, () => sendPrivate(text, peerId, id)),
  );
}

const MAX_FILE = 10 << 20;
function sendFile(file, peerId) {
  if (file.size > MAX_FILE) {
    toast(`${file.name} is too big: 10 MB at most`);
    return;
  }
  const p = pendingEl(`📎 ${file.name}`);
  chat.sendFile(peerId, file).then(
    (ack) => p.done({
      type: 'private-file-message',
      messageId: ack.messageId,
      from: state.me.userId,
      to: peerId,
      fileUrl: URL.createObjectURL(file),
      fileName: file.name,
      fileType: file.type,
      fileSize: file.size,
      messageType: file.type.startsWith('image/') ? 'image' : 'file',
      at: ack.at,
    }),
    (err) => p.failed(err, () => sendFile(file, peerId)),
  );
}

// Rooms ----------------------------------------------------------------------------

function room(name) {
  let r = state.rooms.get(name);
  if (!r) {
    r = { seats: null, version: -1, items: [], full: false };
    state.rooms.set(name, r);
  }
  return r;
}

async function joinRoom(name) {
  const r = room(name);
  r.full = false;
  openRoom(name);
  try {
    const res = await chat.joinRoom(name);
    if (res.type === 'full') {
      r.full = true;
    } else {
      applySeats(res);
    }
  } catch (err) {
    toast(`Could not join ${name}: ${errorText(err)}`);
  }
  renderRoom();
  renderRoomList();
}

function applySeats(u) {
  const r = room(u.room);
  // The SDK drops stale updates; a join reply may restart the count.
  r.seats = u.seats;
  r.version = u.version;
  r.full = false;
}

function openRoom(name) {
  stopTyping();
  state.open = { kind: 'room', room: name };
  showPane('room');
  $('room-title').textContent = `#${name}`;
  const r = room(name);
  $('room-messages').replaceChildren(...r.items.map(roomItemEl));
  renderRoom();
  renderRoomTyping();
  renderConversations();
  renderRoomList();
  toBottom($('room-scroll'));
  $('room-input').focus();
}

function renderRoom() {
  if (!state.open || state.open.kind !== 'room') return;
  const r = room(state.open.room);
  const seats = r.seats || Array.from({ length: 8 }, (_, i) => ({ seat: i, userId: null, username: null, avatar: '🪑' }));
  $('seats').replaceChildren(
    ...seats.map((s) => {
      const li = el('li', `seat${s.userId ? ' taken' : ' free'}${s.userId && state.me && s.userId === state.me.userId ? ' me' : ''}`);
      li.dataset.seat = s.seat;
      // A seated user's picture, else the seat's own emoji.
      const face = el('span', 'seat-emoji');
      if (s.userId) fillAvatar(face, { avatarUrl: s.avatarUrl }, s.avatar);
      else face.textContent = '🪑';
      li.append(face, el('span', 'seat-name', s.userId ? s.username : 'empty'));
      return li;
    }),
  );
  const taken = seats.filter((s) => s.userId).length;
  $('room-count').textContent = `${taken}/8`;
  $('room-full').hidden = !r.full;
  $('room-form').hidden = r.full;
  $('seats').classList.toggle('dim', r.full);
}

function roomItemEl({ key, item }) {
  if (item.type === 'notice') {
    const n = el('li', `notice ${item.event}`, item.text);
    n.dataset.sort = key;
    return n;
  }
  const mine = state.me && item.userId === state.me.userId;
  const li = el('li', `msg ${mine ? 'mine' : 'theirs'}`);
  li.dataset.id = item.messageId;
  li.dataset.sort = key;
  const bubble = el('div', 'bubble');
  if (!mine) bubble.append(el('span', 'author', item.uname));
  bubble.append(el('span', 'text', item.msg));
  const meta = el('div', 'meta');
  meta.append(el('time', null, time(item.at)));
  li.append(bubble, meta);
  return li;
}

// A room shows its messages in messageId order, whatever order they come
// in (the history fetched on joining comes after the join notice). Notices
// carry neither id nor time: they sort at the server time they arrive,
// estimated from the messages' own times, and never before a message that
// came earlier.
let clockSkew = 0; // server time minus ours, from the last live message
let noticeSeq = 0;

function serverTimeKey() {
  const hex = Math.max(0, Date.now() + clockSkew).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}`; // the first 13 characters of a UUIDv7 messageId
}

function roomItemKey(r, item) {
  if (item.type !== 'notice') return item.messageId;
  const last = r.items.length ? r.items[r.items.length - 1].key : '';
  const now = serverTimeKey();
  noticeSeq += 1;
  return `${last > now ? last : now}~${String(noticeSeq).padStart(8, '0')}`;
}

function addRoomItem(name, item) {
  const r = state.rooms.get(name);
  if (!r) return;
  if (item.type === 'group-message' && !item.catchUp) {
    const at = Date.parse(item.at);
    if (!Number.isNaN(at)) clockSkew = at - Date.now();
  }
  const entry = { key: roomItemKey(r, item), item };
  let i = r.items.length;
  while (i > 0 && r.items[i - 1].key > entry.key) i -= 1;
  r.items.splice(i, 0, entry);
  if (r.items.length > 300) r.items.shift();
  if (state.open && state.open.room === name) {
    const scroller = $('room-scroll');
    const stick = nearBottom(scroller) || (item.userId && state.me && item.userId === state.me.userId);
    insertSorted($('room-messages'), roomItemEl(entry));
    if (stick) toBottom(scroller);
  }
}

function renderRoomTyping() {
  if (!state.open || !state.open.room) return;
  const names = [...(state.typingRooms.get(state.open.room) || new Map()).values()];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  $('room-typing').textContent = text;
}

// Typing: the SDK repeats `start` while keystrokes come and says `stop` when
// the input is cleared or left.
function typingTarget() {
  if (!state.open) return null;
  return state.open.peer ? { to: state.open.peer } : { room: state.open.room };
}

function onComposerInput(ev) {
  const where = typingTarget();
  if (!where) return;
  if (ev.target.value.trim()) chat.typing(where);
  else chat.stopTyping(where);
}

function stopTyping() {
  const where = typingTarget();
  if (where) chat.stopTyping(where);
}

function onTyping(t) {
  const on = t.state === 'start';
  if (t.room) {
    let who = state.typingRooms.get(t.room);
    if (!who) state.typingRooms.set(t.room, (who = new Map()));
    if (on) who.set(t.from, t.username);
    else who.delete(t.from);
    if (state.open && state.open.room === t.room) renderRoomTyping();
    return;
  }
  if (on) state.typingPeers.add(t.from);
  else state.typingPeers.delete(t.from);
  if (state.open && state.open.peer === t.from) renderPeerHeader();
  renderConversations();
}

async function leaveRoom() {
  const name = state.open && state.open.room;
  if (!name) return;
  state.rooms.delete(name);
  closePane();
  try {
    await chat.leaveRoom(name);
  } catch (err) {
    toast(`Could not leave ${name}: ${errorText(err)}`);
  }
}

// Users ------------------------------------------------------------------------------

async function lookUp(username) {
  try {
    for (const u of await chat.searchUsers(username)) {
      Object.assign(user(u.userId, u.username), u, { known: true });
    }
    renderMe();
    renderConversations();
  } catch {
    // the avatar is cosmetic
  }
}

let searchTimer;
function onSearch() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const prefix = $('search').value.trim();
    const list = $('search-results');
    if (!prefix) {
      list.replaceChildren();
      return;
    }
    try {
      const found = await chat.searchUsers(prefix);
      if ($('search').value.trim() !== prefix) return;
      const others = found.filter((u) => u.userId !== state.me.userId);
      list.replaceChildren(
        ...others.map((u) => {
          Object.assign(user(u.userId, u.username), u, { known: true });
          const li = el('li');
          const b = el('button', 'item');
          b.type = 'button';
          b.dataset.user = u.userId;
          b.append(avatarEl(u), el('span', 'item-name', u.username));
          b.addEventListener('click', () => {
            $('search').value = '';
            list.replaceChildren();
            openPrivate(u.userId);
          });
          li.append(b);
          return li;
        }),
      );
      if (others.length === 0) list.append(el('li', 'hint', 'Nobody by that name.'));
    } catch (err) {
      list.replaceChildren(el('li', 'hint error', errorText(err)));
    }
  }, 200);
}

// Session ------------------------------------------------------------------------------

// applyConversations takes the server's list: the SDK emits it on every
// (re)connect, when presence, read markers and unread counts may have
// changed while we were away.
function applyConversations(list) {
  for (const item of list) {
    const c = conv(item.peer.userId, item.peer.username);
    Object.assign(c.peer, item.peer, { known: true });
    if (item.lastMessage && (!c.last || item.lastMessage.messageId > c.last.messageId)) c.last = item.lastMessage;
    c.unread = item.unread;
    c.listLast = item.lastMessage ? item.lastMessage.messageId : '';
    if (item.readUpTo && !(c.readUpTo && c.readUpTo >= item.readUpTo)) c.readUpTo = item.readUpTo;
    if (item.peerReadUpTo) peerRead(c.peer.userId, item.peerReadUpTo);
  }
  chat.subscribePresence(list.map((item) => item.peer.userId)).catch(() => {});
  renderConversations();
  renderPeerHeader();
  if (state.open && state.open.peer) markRead(state.open.peer);
}

async function loadConversations() {
  try {
    applyConversations(await chat.conversations());
  } catch (err) {
    toast(`Could not load conversations: ${errorText(err)}`);
  }
}

// start shows the chat; the conversation list comes with the connection.
function start(session) {
  localStorage.setItem('minichat.session', JSON.stringify(session));
  state.me = user(session.userId, session.username);
  renderMe();
  showLoggedIn(true);
  chat.connect().catch(() => {});
  lookUp(session.username);
}

function logout(message) {
  chat.logout();
  localStorage.removeItem('minichat.session');
  state.me = null;
  state.users.clear();
  state.convs.clear();
  state.rooms.clear();
  state.typingPeers.clear();
  state.typingRooms.clear();
  closePane();
  showLoggedIn(false);
  $('login-error').textContent = message || '';
}

async function onLogin(ev) {
  ev.preventDefault();
  const register = ev.submitter && ev.submitter.value === 'register';
  const username = $('username').value.trim();
  const password = $('password').value;
  const err = $('login-error');
  err.textContent = '';
  for (const b of $('login-form').querySelectorAll('button')) b.disabled = true;
  try {
    const session = register ? await chat.register(username, password) : await chat.login(username, password);
    $('password').value = '';
    start(session);
  } catch (e) {
    err.textContent = e.code === 'network' ? 'Cannot reach the server: check the settings (⚙️).' : errorText(e);
  } finally {
    for (const b of $('login-form').querySelectorAll('button')) b.disabled = false;
  }
}

// Dialogs --------------------------------------------------------------------------------

function openSettings() {
  const s = loadJSON('minichat.settings') || {};
  $('ws-url').value = s.wsUrl || '';
  $('http-url').value = s.httpUrl || '';
  $('ws-url').placeholder = defaultSettings().wsUrl;
  if (site.httpUrl) $('http-url').placeholder = site.httpUrl;
  $('settings').showModal();
}

function onSettingsClose() {
  const v = $('settings').returnValue;
  if (v === 'save') {
    localStorage.setItem('minichat.settings', JSON.stringify({ wsUrl: $('ws-url').value.trim(), httpUrl: $('http-url').value.trim() }));
  } else if (v === 'reset') {
    localStorage.removeItem('minichat.settings');
  } else {
    return;
  }
  // Another server means other accounts: start over.
  localStorage.removeItem('minichat.session');
  location.reload();
}

function buildAvatarPicker() {
  $('emoji-grid').replaceChildren(
    ...AVATARS.map((emoji) => {
      const b = el('button', 'emoji', emoji);
      b.type = 'button';
      b.setAttribute('aria-label', `Use ${emoji}`);
      b.addEventListener('click', async () => {
        $('avatar-dialog').close();
        const before = state.me.avatar;
        state.me.avatar = emoji;
        renderMe();
        try {
          await chat.setAvatar(emoji);
        } catch (err) {
          state.me.avatar = before;
          renderMe();
          toast(`Could not change the avatar: ${errorText(err)}`);
        }
      });
      return b;
    }),
  );
}

const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const MAX_AVATAR = 1 << 20;

async function uploadAvatar() {
  const input = $('avatar-file');
  const file = input.files && input.files[0];
  input.value = '';
  const status = $('avatar-status');
  if (!file) return;
  if (!AVATAR_TYPES.includes(file.type)) {
    status.textContent = 'Pick a PNG, JPEG, GIF or WebP picture.';
    return;
  }
  if (file.size > MAX_AVATAR) {
    status.textContent = `${file.name} is too big: 1 MB at most.`;
    return;
  }
  status.textContent = 'Uploading…';
  input.disabled = true;
  try {
    const me = await chat.setAvatarImage(file);
    avatarChanged(me.userId, me.avatar, me.avatarUrl);
    status.textContent = '';
    $('avatar-dialog').close();
  } catch (err) {
    status.textContent = `Could not use that picture: ${errorText(err)}`;
  } finally {
    input.disabled = false;
  }
}

// avatarChanged shows a user's new avatar wherever they appear. Seats carry
// their own avatarUrl, and no room update follows an avatar change.
function avatarChanged(userId, avatar, avatarUrl) {
  const u = user(userId);
  u.avatar = avatar;
  if (avatarUrl !== undefined) {
    u.avatarUrl = avatarUrl;
    for (const r of state.rooms.values()) {
      for (const s of r.seats || []) if (s.userId === userId) s.avatarUrl = avatarUrl;
    }
  }
  renderMe();
  renderConversations();
  renderPeerHeader();
  renderRoom();
}

// Wiring ----------------------------------------------------------------------------------

chat.on('status', setStatus);
chat.on('private-message', onIncomingPrivate);
chat.on('private-file-message', onIncomingPrivate);
chat.on('message-deleted', (f) => markDeleted(f.messageId, f.chatWith));
chat.on('avatar-updated', (f) => avatarChanged(f.userId, f.avatar, f.avatarUrl));
chat.on('presence', (p) => {
  const u = user(p.userId);
  u.online = p.online;
  u.lastSeen = p.lastSeen;
  renderConversations();
  if (state.open && state.open.peer === p.userId) renderPeerHeader();
});
chat.on('typing', onTyping);
chat.on('read', (r) => {
  if (r.by !== state.me.userId) {
    peerRead(r.chatWith, r.messageId);
    return;
  }
  // Read on another device of ours: the server's count is the one to show.
  const c = state.convs.get(r.chatWith);
  if (!c || (c.readUpTo && c.readUpTo >= r.messageId)) return;
  c.readUpTo = r.messageId;
  loadConversations();
});
chat.on('conversations', applyConversations);
chat.on('room-reset', (r) => {
  state.typingRooms.delete(r.room);
  addRoomItem(r.room, { type: 'notice', event: 'reset', text: 'Everyone had left: the room started over' });
});
chat.on('update', (u) => {
  if (!state.rooms.has(u.room)) return;
  applySeats(u);
  if (state.open && state.open.room === u.room) renderRoom();
  renderRoomList();
});
chat.on('full', (f) => {
  if (!state.rooms.has(f.room)) return;
  room(f.room).full = true;
  if (state.open && state.open.room === f.room) renderRoom();
  renderRoomList();
});
chat.on('notice', (n) => addRoomItem(n.room, n));
chat.on('group-message', (m) => addRoomItem(m.room, m));
chat.on('error', (err) => {
  if (err.code === 'unauthorized') logout('Your session has expired: please log in again.');
  else if (err.code !== 'timeout') toast(errorText(err));
});

$('login-form').addEventListener('submit', onLogin);
$('logout').addEventListener('click', () => logout());
$('settings-button').addEventListener('click', openSettings);
$('settings').addEventListener('close', onSettingsClose);
$('me').addEventListener('click', () => {
  $('avatar-status').textContent = '';
  $('avatar-dialog').showModal();
});
$('avatar-file').addEventListener('change', uploadAvatar);
$('private-input').addEventListener('input', onComposerInput);
$('room-input').addEventListener('input', onComposerInput);
$('search').addEventListener('input', onSearch);
$('load-older').addEventListener('click', loadOlder);
$('leave-room').addEventListener('click', leaveRoom);
$('retry-join').addEventListener('click', () => state.open && joinRoom(state.open.room));
for (const b of document.querySelectorAll('.back')) b.addEventListener('click', closePane);

$('private-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('private-input');
  const text = input.value;
  if (!text.trim() || !state.open || !state.open.peer) return;
  input.value = '';
  sendPrivate(text, state.open.peer);
});

$('file-input').addEventListener('change', () => {
  const input = $('file-input');
  const file = input.files && input.files[0];
  input.value = '';
  if (file && state.open && state.open.peer) sendFile(file, state.open.peer);
});

$('room-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('room-input');
  const text = input.value;
  const name = state.open && state.open.room;
  if (!text.trim() || !name) return;
  input.value = '';
  try {
    await chat.sendGroup(name, text);
  } catch (err) {
    input.value = text;
    toast(`Not sent: ${errorText(err)}`);
  }
});

$('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('room-name').value.trim();
  if (!name) return;
  $('room-name').value = '';
  joinRoom(name);
});

// The open conversation is read once the user can see it.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.open && state.open.peer) markReadSoon(state.open.peer);
});

buildAvatarPicker();
setStatus('idle');
const saved = loadJSON('minichat.session');
if (saved && saved.token && !(saved.expiresAt && Date.parse(saved.expiresAt) <= Date.now())) {
  chat.setSession(saved);
  start(saved);
} else {
  localStorage.removeItem('minichat.session');
  showLoggedIn(false);
}
