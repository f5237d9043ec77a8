// Protocol v1.1 in two browsers: presence dots and "last seen", read
// ticks, typing in private and room chat, unread badges kept by the
// server's read markers; and the SDK's repair of a lost push against the
// real server's history cursors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, chatWith, clean, joinRoom, launch, open, register, reopen, screenshot, send } from './lib.mjs';

let browser;
let uma;
let vic;

const item = (user, name) => user.page.locator('#conversations .item', { hasText: name });

before(async () => {
  browser = await launch();
  uma = await register(await open(browser, DESKTOP), 'uma');
  vic = await register(await open(browser, DESKTOP), 'vic');
  await chatWith(uma, 'vic');
  await send(uma, 'Hello Vic');
  await item(vic, 'uma').click();
  await vic.page.locator('#private-messages .msg', { hasText: 'Hello Vic' }).waitFor();
});

after(async () => {
  await browser?.close();
});

test('the presence dot turns off when the other leaves, with "last seen", and on again', async () => {
  await item(uma, 'vic').locator('.presence[aria-label="online"]').waitFor();
  await uma.page.locator('#peer-presence', { hasText: 'online' }).waitFor();
  assert.ok(await uma.page.locator('#peer-dot').isVisible());

  await vic.page.close(); // vic's last connection closes
  await item(uma, 'vic').locator('.presence').waitFor({ state: 'detached' });
  await item(uma, 'vic').locator('.item-seen', { hasText: /^last seen today at \d\d:\d\d$/ }).waitFor();
  await uma.page.locator('#peer-presence', { hasText: /^last seen today at / }).waitFor();
  assert.ok(await uma.page.locator('#peer-dot').isHidden());
  await screenshot(uma.page, 'last-seen-desktop');

  await reopen(vic);
  await item(uma, 'vic').locator('.presence').waitFor();
  await uma.page.locator('#peer-presence', { hasText: 'online' }).waitFor();
  assert.equal(await item(uma, 'vic').locator('.item-seen').count(), 0);
  assert.deepEqual(clean(uma, vic), []);
});

test('read ticks: one when stored, two once the other has read it', async () => {
  // vic is back on the list, not in the conversation: nothing is read.
  await send(uma, 'Are you reading this?');
  const mine = uma.page.locator('#private-messages .msg.mine', { hasText: 'Are you reading this?' });
  assert.equal(await mine.locator('.tick').getAttribute('aria-label'), 'sent');
  await item(vic, 'uma').locator('.badge', { hasText: '1' }).waitFor();
  assert.equal(await mine.locator('.tick.read').count(), 0);

  await item(vic, 'uma').click();
  await mine.locator('.tick.read[aria-label="read"]').waitFor(); // the `read` push
  assert.equal(await mine.locator('.tick').textContent(), '✓✓');

  // A fresh start shows it from the conversation list's peerReadUpTo.
  await reopen(uma);
  await item(uma, 'vic').click();
  await uma.page.locator('#private-messages .msg.mine', { hasText: 'Are you reading this?' }).locator('.tick.read').waitFor();
  assert.deepEqual(clean(uma, vic), []);
});

test('typing shows while the other types, expires without a stop, and ends with the message', async () => {
  const typing = uma.page.locator('#private-typing', { hasText: 'vic is typing…' });
  await vic.page.locator('#private-input').pressSequentially('I am wri');
  await typing.waitFor();
  await item(uma, 'vic').locator('.item-preview.typing', { hasText: 'typing…' }).waitFor();
  await screenshot(uma.page, 'live-desktop');
  // vic stops typing without sending or clearing: no stop is sent, and the
  // indicator goes 6 s after the last start.
  await typing.waitFor({ state: 'hidden' });
  assert.equal(await item(uma, 'vic').locator('.item-preview.typing').count(), 0);

  await vic.page.locator('#private-input').pressSequentially('ting');
  await typing.waitFor();
  await vic.page.press('#private-input', 'Enter');
  await uma.page.locator('#private-messages .msg.theirs', { hasText: 'I am writing' }).waitFor();
  assert.equal(await uma.page.locator('#private-typing').textContent(), '', 'the message ends the typing');
  assert.deepEqual(clean(uma, vic), []);
});

test('typing in a room shows to the others and stops when the input is cleared', async () => {
  await joinRoom(uma, 'den');
  await joinRoom(vic, 'den');
  await vic.page.locator('#room-input').pressSequentially('hmm');
  const typing = uma.page.locator('#room-typing', { hasText: 'vic is typing…' });
  await typing.waitFor();
  assert.equal(await vic.page.locator('#room-typing').textContent(), '', 'nobody is told of their own typing');
  await vic.page.fill('#room-input', ''); // a `stop`
  await typing.waitFor({ state: 'hidden' });
  assert.deepEqual(clean(uma, vic), []);
});

test('unread badges count what the read marker has not reached, on every start', async () => {
  // vic looks at the room: the conversation is not open.
  await item(uma, 'vic').click();
  for (const text of ['one', 'two', 'three']) await send(uma, text);
  await item(vic, 'uma').locator('.badge', { hasText: '3' }).waitFor();
  assert.equal(await item(vic, 'uma').locator('.badge').getAttribute('aria-label'), '3 unread');

  await reopen(vic); // the count is the server's, not the page's
  await item(vic, 'uma').locator('.badge', { hasText: '3' }).waitFor();
  await item(vic, 'uma').click();
  await vic.page.locator('#private-messages .msg', { hasText: 'three' }).waitFor();
  await item(vic, 'uma').locator('.badge').waitFor({ state: 'detached' });
  const read = uma.page.locator('#private-messages .msg.mine', { hasText: 'three' }).locator('.tick.read');
  await read.waitFor(); // the marker moved on the server...

  await reopen(vic); // ...so a fresh start shows nothing unread
  await item(vic, 'uma').locator('.item-preview', { hasText: 'three' }).waitFor();
  assert.equal(await item(vic, 'uma').locator('.badge').count(), 0);
  assert.deepEqual(clean(uma, vic), []);
});

test('the SDK fetches a lost push from history, in a conversation and in a room', async () => {
  const lab = await open(browser, DESKTOP);
  const got = await lab.page.evaluate(async (password) => {
    const { MiniChat } = await import('/sdk/minichat.js');
    const ws = `ws://${location.host}/ws`;
    // A socket that loses the second message pushed to it, as a push that
    // failed would (the server then closes the connection; here it stays).
    let seen = 0;
    class Lossy extends WebSocket {
      set onmessage(fn) {
        super.onmessage = (ev) => {
          if (/"type":"(private|group)-message"/.test(ev.data) && ++seen % 3 === 2) return;
          fn(ev);
        };
      }
    }
    const sender = new MiniChat({ wsUrl: ws });
    const reader = new MiniChat({ wsUrl: ws, WebSocket: Lossy, gapGraceMs: 200 });
    await sender.register('yara', password);
    await reader.register('zeno', password);
    await Promise.all([sender.connect(), reader.connect()]);
    const events = [];
    const fetched = [];
    const fetch0 = window.fetch;
    window.fetch = (url, init) => {
      if (/messages\?/.test(url)) fetched.push(String(url).replace(/^.*\/api\//, '').replace(/[0-9a-f-]{36}/g, 'ID'));
      return fetch0(url, init);
    };
    // Bounded, so that a message that never comes fails the test with what
    // did come instead of holding the whole run until its bound.
    const done = (n) => new Promise((resolve, reject) => {
      const until = Date.now() + 15000;
      const check = () => {
        if (events.length >= n) resolve();
        else if (Date.now() > until) reject(new Error(`waited for ${n} messages, got ${JSON.stringify(events)}; fetched ${JSON.stringify(fetched)}`));
        else setTimeout(check, 20);
      };
      check();
    });
    reader.on('private-message', (m) => events.push(`${m.content}${m.catchUp ? '*' : ''}`));
    reader.on('group-message', (m) => events.push(`${m.msg}${m.catchUp ? '*' : ''}`));
    for (const text of ['one', 'two', 'three']) await sender.sendPrivate(reader.userId, text);
    await done(3);
    await sender.joinRoom('lab');
    await sender.sendGroup('lab', 'zero');
    // zero comes with the room's history on joining: once it is here, the
    // live messages that follow can only be repaired by a fetch of the hole.
    await reader.joinRoom('lab');
    await done(4);
    for (const text of ['four', 'five', 'six']) await sender.sendGroup('lab', text);
    await done(7);
    sender.close();
    reader.close();
    return { events, fetched };
  }, 'correct-horse-9');
  assert.deepEqual(got.events, ['one', 'three', 'two*', 'zero*', 'four', 'six', 'five*']);
  assert.deepEqual(got.fetched, [
    'conversations/ID/messages?after=ID&limit=1', // exactly the hole
    'rooms/lab/messages?limit=50', // the room's history on joining, for each of the two
    'rooms/lab/messages?limit=50',
    'rooms/lab/messages?after=ID&limit=1',
  ]);
  assert.deepEqual(clean(lab), []);
});
