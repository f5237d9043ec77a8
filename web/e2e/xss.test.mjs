// Message data is text, never HTML: payloads in private messages, room
// messages and avatars are shown as typed and run nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, DESKTOP, chatWith, clean, launch, messageTexts, open, register, send } from './lib.mjs';

const PAYLOADS = [
  '<img src=x onerror=alert(1)>',
  '<script>alert(2)</script>',
  '"><svg onload="window.__xss=1">',
  '<img src=x onerror="window.__xss=1">',
];

let browser;
let mallory;
let victim;

before(async () => {
  browser = await launch();
  mallory = await register(await open(browser, DESKTOP), 'mallory');
  victim = await register(await open(browser, DESKTOP), 'victim');
});

after(async () => {
  await browser?.close();
});

async function noScriptRan(page) {
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no payload ran');
  assert.equal(await page.locator('#chat-view img, #chat-view svg, #chat-view script').count(), 0, 'no element was made from message data');
}

test('private messages and avatars with HTML are shown as text', async () => {
  const session = JSON.parse(await mallory.page.evaluate(() => localStorage.getItem('minichat.session')));
  const res = await fetch(`${BASE}/api/users/me/avatar`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ avatar: PAYLOADS[3] }),
  });
  assert.equal(res.status, 200);

  await chatWith(mallory, 'victim');
  for (const p of PAYLOADS) await send(mallory, p);

  const item = victim.page.locator('#conversations .item', { hasText: 'mallory' });
  await item.locator('.item-preview', { hasText: PAYLOADS[3] }).waitFor();
  assert.equal(await item.locator('.avatar').textContent(), PAYLOADS[3]);
  await item.click();
  await victim.page.locator('#private-messages .msg', { hasText: PAYLOADS[3] }).waitFor();
  assert.deepEqual(await messageTexts(victim.page), PAYLOADS);
  await noScriptRan(victim.page);
  await noScriptRan(mallory.page);
  assert.deepEqual(clean(mallory, victim), []);
});

test('room messages with HTML are shown as text', async () => {
  for (const u of [victim, mallory]) {
    await u.page.fill('#room-name', 'xss');
    await u.page.press('#room-name', 'Enter');
    await u.page.locator('#seats .seat.me').waitFor();
  }
  for (const p of PAYLOADS) {
    await mallory.page.fill('#room-input', p);
    await mallory.page.press('#room-input', 'Enter');
    await mallory.page.locator('#room-messages .msg .text', { hasText: p }).waitFor();
  }
  await victim.page.locator('#room-messages .msg .text', { hasText: PAYLOADS[3] }).waitFor();
  assert.deepEqual(await messageTexts(victim.page, '#room-messages'), PAYLOADS);
  await noScriptRan(victim.page);
  assert.deepEqual(clean(mallory, victim), []);
});
