// Image avatars (uploaded in the avatar dialog, shown wherever the user
// appears) and a room's history shown on joining.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, PHONE, chatWith, clean, joinRoom, launch, open, png, register, reopen, screenshot, send } from './lib.mjs';

let browser;
let wes;
let xia;

// picture returns the size of the image an avatar shows, once loaded.
function picture(locator) {
  return locator.locator('img').evaluate(async (i) => {
    await i.decode();
    return [i.naturalWidth, i.naturalHeight];
  });
}

before(async () => {
  browser = await launch();
  wes = await register(await open(browser, DESKTOP), 'wes');
  xia = await register(await open(browser, PHONE), 'xia');
  await chatWith(wes, 'xia');
  await send(wes, 'Hi Xia, new profile picture coming');
  await joinRoom(wes, 'gallery');
  await joinRoom(xia, 'gallery');
});

after(async () => {
  await browser?.close();
});

test('an uploaded avatar shows in the conversation list, the chat header and the seats', async () => {
  await wes.page.click('#me');
  await wes.page.locator('#avatar-dialog').waitFor();
  await screenshot(wes.page, 'avatar-dialog-desktop');
  // A sunrise over green hills, 96×96.
  const face = png(96, 96, (x, y) => (y < 60 - Math.abs(x - 48) / 3 ? [250, 200 - y, 90] : [40, 140 + (x % 16), 70]));
  await wes.page.setInputFiles('#avatar-file', { name: 'me.png', mimeType: 'image/png', buffer: face });
  await wes.page.locator('#avatar-dialog').waitFor({ state: 'hidden' });
  assert.deepEqual(await picture(wes.page.locator('#me-avatar')), [96, 96]);
  const mySeat = wes.page.locator('#seats .seat.me .seat-emoji');
  await mySeat.locator('img').waitFor();

  // xia shares a room and a conversation with wes: the avatar-updated push.
  const seat = xia.page.locator('#seats .seat', { hasText: 'wes' }).locator('.seat-emoji');
  await seat.locator('img').waitFor();
  assert.deepEqual(await picture(seat), [96, 96]);
  await screenshot(wes.page, 'room-avatars-desktop');
  await xia.page.click('#room-pane .back'); // phone: back to the list
  const listed = xia.page.locator('#conversations .item', { hasText: 'wes' }).locator('.avatar');
  await listed.locator('img').waitFor();
  await xia.page.locator('#conversations .item', { hasText: 'wes' }).click();
  assert.deepEqual(await picture(xia.page.locator('#peer-avatar')), [96, 96]);
  await screenshot(xia.page, 'avatar-phone');

  // A fresh start: the conversation list carries avatarUrl.
  await reopen(xia);
  await xia.page.locator('#conversations .item', { hasText: 'wes' }).locator('.avatar img').waitFor();
  assert.deepEqual(clean(wes, xia), []);
});

test("a room's recent history shows on joining, above the join notice", async () => {
  await joinRoom(wes, 'attic');
  for (const text of ['Anyone here?', 'The attic has the best view']) {
    await wes.page.fill('#room-input', text);
    await wes.page.press('#room-input', 'Enter');
    await wes.page.locator('#room-messages .msg .text', { hasText: text }).waitFor();
  }
  await joinRoom(xia, 'attic');
  const items = xia.page.locator('#room-messages > li');
  await xia.page.locator('#room-messages .msg', { hasText: 'best view' }).waitFor();
  await wes.page.fill('#room-input', 'Welcome, Xia');
  await wes.page.press('#room-input', 'Enter');
  await xia.page.locator('#room-messages .msg', { hasText: 'Welcome, Xia' }).waitFor();
  assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.querySelector('.text')?.textContent ?? e.textContent)), [
    'Anyone here?',
    'The attic has the best view',
    'xia entered the room',
    'Welcome, Xia',
  ]);
  await screenshot(xia.page, 'room-history-phone');
  assert.deepEqual(clean(wes, xia), []);
});
