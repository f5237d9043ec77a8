// A server restart mid-conversation: the clients reconnect by themselves,
// a message written while the server was down is sent once, nothing is
// lost or shown twice, and room seats are taken back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, PHONE, chatWith, clean, control, launch, messageTexts, open, register, send } from './lib.mjs';

let browser;
let rita;
let sam;

async function joinAndReturn(user, room, peer) {
  await user.page.fill('#room-name', room);
  await user.page.press('#room-name', 'Enter');
  await user.page.locator('#seats .seat.me').waitFor();
  const back = user.page.locator('#room-pane .back');
  if (await back.isVisible()) await back.click(); // phones show one pane at a time
  await user.page.locator('#conversations .item', { hasText: peer }).click();
  await user.page.locator('#peer-name', { hasText: peer }).waitFor();
}

before(async () => {
  browser = await launch();
  rita = await register(await open(browser, DESKTOP), 'rita');
  sam = await register(await open(browser, PHONE), 'sam');
  await chatWith(rita, 'sam');
  await send(rita, 'Before the restart');
  await joinAndReturn(sam, 'cafe', 'rita');
  await joinAndReturn(rita, 'cafe', 'sam');
  await sam.page.locator('#rooms .item[data-room="cafe"]', { hasText: '2/8 seated' }).waitFor({ state: 'attached' });
});

after(async () => {
  await browser?.close();
});

test('a server restart mid-conversation loses and duplicates nothing', async () => {
  await control('stop');
  for (const u of [rita, sam]) await u.page.locator('#status:not([data-status="open"])').waitFor();

  // Written while the server is down: the SDK keeps it until it can send it.
  await rita.page.fill('#private-input', 'Sent while the server was down');
  await rita.page.press('#private-input', 'Enter');
  await rita.page.locator('#private-messages .msg.pending', { hasText: 'server was down' }).waitFor();

  await control('start');
  for (const u of [rita, sam]) await u.page.locator('#status[data-status="open"]').waitFor();
  await rita.page.locator('#private-messages .msg.mine:not(.pending)', { hasText: 'server was down' }).waitFor();
  await sam.page.locator('#private-messages .msg', { hasText: 'server was down' }).waitFor();

  await send(rita, 'And after it');
  await sam.page.locator('#private-messages .msg', { hasText: 'And after it' }).waitFor();
  await sam.page.fill('#private-input', 'All here');
  await sam.page.press('#private-input', 'Enter');
  await rita.page.locator('#private-messages .msg', { hasText: 'All here' }).waitFor();

  const want = ['Before the restart', 'Sent while the server was down', 'And after it', 'All here'];
  assert.deepEqual(await messageTexts(rita.page), want);
  assert.deepEqual(await messageTexts(sam.page), want);

  // Both took their seats back.
  for (const u of [rita, sam]) {
    await u.page.locator('#rooms .item[data-room="cafe"]', { hasText: '2/8 seated' }).waitFor({ state: 'attached' });
  }
  await rita.page.locator('#rooms .item[data-room="cafe"]').click();
  await rita.page.locator('#room-count', { hasText: '2/8' }).waitFor();
  // Who reconnects first takes the first free seat.
  assert.deepEqual((await rita.page.locator('#seats .seat.taken .seat-name').allTextContents()).sort(), ['rita', 'sam']);
  assert.deepEqual(clean(rita, sam), []);
});
