// Private chat in two browsers: live delivery, unread counts, catch-up
// after going offline, deleting, avatars, history paging.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, DESKTOP, PASSWORD, PHONE, chatWith, clean, launch, messageTexts, open, register, screenshot, send } from './lib.mjs';

let browser;
let alice;
let bob;

before(async () => {
  browser = await launch();
  alice = await register(await open(browser, DESKTOP), 'alice');
  bob = await register(await open(browser, PHONE), 'bob');
});

after(async () => {
  await browser?.close();
});

test('a private message appears live on the other side, with an unread count', async () => {
  await chatWith(alice, 'bob');
  await send(alice, 'Hi Bob! 👋 Lunch at noon?');

  const item = bob.page.locator('#conversations .item', { hasText: 'alice' });
  await item.locator('.badge', { hasText: '1' }).waitFor();
  await item.locator('.item-preview', { hasText: 'Lunch at noon?' }).waitFor();
  await item.click();
  await bob.page.locator('#private-messages .msg.theirs', { hasText: 'Lunch at noon?' }).waitFor();
  assert.equal(await item.locator('.badge').count(), 0, 'opening the conversation clears its unread count');

  await bob.page.fill('#private-input', 'Sure, see you there 🍕');
  await bob.page.press('#private-input', 'Enter');
  await alice.page.locator('#private-messages .msg.theirs', { hasText: 'see you there' }).waitFor();
  assert.deepEqual(await messageTexts(alice.page), ['Hi Bob! 👋 Lunch at noon?', 'Sure, see you there 🍕']);
  assert.deepEqual(clean(alice, bob), []);
});

test('an offline user catches up on reconnect, without duplicates', async () => {
  const sockets = [];
  const catchUps = [];
  bob.page.on('websocket', (ws) => sockets.push(ws.url()));
  bob.page.on('request', (r) => {
    if (r.url().includes('/messages?after=')) catchUps.push(r.url());
  });
  await bob.context.setOffline(true);
  await bob.page.locator('#status:not([data-status="open"])').waitFor();

  const missed = ['Are you there?', 'I booked the table', 'It is the one by the window'];
  for (const text of missed) await send(alice, text);

  await bob.context.setOffline(false);
  await bob.page.locator('#status[data-status="open"]').waitFor();
  await bob.page.locator('#private-messages .msg', { hasText: missed[2] }).waitFor();
  // A message after the reconnect arrives live, after the caught-up ones.
  await send(alice, 'Welcome back');
  await bob.page.locator('#private-messages .msg', { hasText: 'Welcome back' }).waitFor();

  assert.deepEqual(await messageTexts(bob.page), [
    'Hi Bob! 👋 Lunch at noon?',
    'Sure, see you there 🍕',
    ...missed,
    'Welcome back',
  ]);
  assert.ok(sockets.length >= 1, 'a new connection (and maybe attempts that failed while offline)');
  assert.ok(sockets.every((u) => !u.includes('token=')), 'the token travels as a subprotocol, not in the URL');
  assert.equal(catchUps.length, 1, 'missed messages came through history `after`');
  assert.deepEqual(clean(alice, bob), []);
});

test('a sender deletes its own message on both sides', async () => {
  await send(alice, 'oops, wrong chat');
  await bob.page.locator('#private-messages .msg', { hasText: 'oops, wrong chat' }).waitFor();
  const mine = alice.page.locator('#private-messages .msg.mine', { hasText: 'oops, wrong chat' });
  await mine.locator('.delete').click();
  await mine.locator('.delete', { hasText: 'Delete?' }).click(); // two clicks: no confirm() dialog
  await alice.page.locator('#private-messages .msg.deleted').waitFor();
  await bob.page.locator('#private-messages .msg.deleted', { hasText: 'This message was deleted' }).waitFor();
  assert.equal(await bob.page.locator('#private-messages .msg', { hasText: 'oops, wrong chat' }).count(), 0);
  assert.equal(await bob.page.locator('#private-messages .msg.theirs .delete').count(), 0, 'nobody deletes what others said');
  assert.deepEqual(clean(alice, bob), []);
});

test('an avatar change shows on the other side', async () => {
  await alice.page.click('#me');
  await alice.page.click('#emoji-grid button[aria-label="Use 🦊"]');
  await alice.page.locator('#me-avatar', { hasText: '🦊' }).waitFor();
  await bob.page.click('#private-pane .back'); // phone: back to the list
  await bob.page.locator('#conversations .item', { hasText: 'alice' }).locator('.avatar', { hasText: '🦊' }).waitFor();
  await bob.page.click('#me');
  await bob.page.click('#emoji-grid button[aria-label="Use 🐼"]');
  await alice.page.locator('#peer-avatar', { hasText: '🐼' }).waitFor();

  await bob.page.locator('#conversations .item', { hasText: 'alice' }).click();
  await bob.page.locator('#private-messages .msg', { hasText: 'Welcome back' }).waitFor();
  await screenshot(alice.page, 'chat-desktop');
  await screenshot(bob.page, 'chat-phone');
  assert.deepEqual(clean(alice, bob), []);
});

test('history pages back with "load older"', async () => {
  const carl = await register(await open(browser, DESKTOP), 'carl');
  // 35 messages from bob to carl through the HTTP API.
  const login = await fetch(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'bob', password: PASSWORD }),
  }).then((r) => r.json());
  const users = await fetch(`${BASE}/api/users?prefix=carl`, { headers: { Authorization: `Bearer ${login.token}` } }).then((r) => r.json());
  const carlId = users.find((u) => u.username === 'carl').userId;
  for (let i = 1; i <= 35; i++) {
    for (;;) {
      const res = await fetch(`${BASE}/api/conversations/${carlId}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${login.token}` },
        body: JSON.stringify({ content: `note ${i}`, id: `note-${i}` }),
      });
      if (res.status === 201) break;
      assert.equal(res.status, 429, `send note ${i}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // A fresh start (the session is kept): the client has only what history gives it.
  await carl.page.reload();
  const item = carl.page.locator('#conversations .item', { hasText: 'bob' });
  await item.locator('.badge', { hasText: '35' }).waitFor();
  await item.click();
  await carl.page.locator('#private-messages .msg', { hasText: 'note 35' }).waitFor();
  const first = await messageTexts(carl.page);
  assert.equal(first.length, 30);
  assert.equal(first[0], 'note 6');
  await carl.page.click('#load-older');
  await carl.page.locator('#private-messages .msg .text', { hasText: /^note 1$/ }).waitFor();
  const all = await messageTexts(carl.page);
  assert.deepEqual(all, Array.from({ length: 35 }, (_, i) => `note ${i + 1}`));
  assert.ok(await carl.page.locator('#load-older').isHidden(), 'no older page left');
  assert.deepEqual(clean(carl), []);
});
