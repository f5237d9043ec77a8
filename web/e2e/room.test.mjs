// Rooms in two browsers: seats update live on both sides, room chat and
// notices, and the `full` state. Extra members are SDK clients running in
// a third page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, PASSWORD, PHONE, clean, launch, messageTexts, open, register, screenshot } from './lib.mjs';

let browser;
let carol;
let dave;
let bots;

before(async () => {
  browser = await launch();
  carol = await register(await open(browser, DESKTOP), 'carol');
  dave = await register(await open(browser, PHONE), 'dave');
  bots = await open(browser, DESKTOP);
});

after(async () => {
  await browser?.close();
});

// addBots registers users in the bots page and seats them in room with the
// SDK; they stay connected until the page closes.
async function addBots(names, room) {
  return bots.page.evaluate(
    async ({ names, room, password }) => {
      const { MiniChat } = await import('/sdk/minichat.js');
      window.bots = window.bots || {};
      const answers = [];
      for (const name of names) {
        const c = new MiniChat({ wsUrl: `ws://${location.host}/ws` });
        await c.register(name, password);
        await c.connect();
        answers.push((await c.joinRoom(room)).type);
        window.bots[name] = c;
      }
      return answers;
    },
    { names, room, password: PASSWORD },
  );
}

function bot(name, method, ...args) {
  return bots.page.evaluate(({ name, method, args }) => window.bots[name][method](...args).then(() => null), { name, method, args });
}

async function join(user, room) {
  await user.page.fill('#room-name', room);
  await user.page.press('#room-name', 'Enter');
  await user.page.locator('#room-title', { hasText: `#${room}` }).waitFor();
}

async function seats(page) {
  return page.locator('#seats .seat').evaluateAll((els) => els.map((e) => `${e.querySelector('.seat-emoji').textContent} ${e.querySelector('.seat-name').textContent}`));
}

const free = (n) => Array(n).fill('🪑 empty');

test('seats update live in both browsers, with notices and room chat', async () => {
  await join(carol, 'lobby');
  await carol.page.locator('#seats .seat.me', { hasText: 'carol' }).waitFor();
  assert.deepEqual(await seats(carol.page), ['🦊 carol', ...free(7)]);

  await join(dave, 'lobby');
  await carol.page.locator('#seats .seat', { hasText: 'dave' }).waitFor();
  for (const page of [carol.page, dave.page]) {
    await page.locator('#room-count', { hasText: '2/8' }).waitFor();
    assert.deepEqual(await seats(page), ['🦊 carol', '🐼 dave', ...free(6)]);
  }
  await carol.page.locator('#room-messages .notice', { hasText: 'dave entered the room' }).waitFor();

  assert.deepEqual(await addBots(['emma', 'finn'], 'lobby'), ['update', 'update']);
  await dave.page.locator('#room-count', { hasText: '4/8' }).waitFor();
  assert.deepEqual(await seats(dave.page), ['🦊 carol', '🐼 dave', '🐸 emma', '🐙 finn', ...free(4)]);

  await dave.page.fill('#room-input', 'Hi all! Who is up for a game tonight? 🎲');
  await dave.page.press('#room-input', 'Enter');
  // The browser sends after the key press returns: only once carol has
  // it is dave's message stored ahead of the bot's.
  await carol.page.locator('#room-messages .msg', { hasText: 'game tonight' }).waitFor();
  await bot('emma', 'sendGroup', 'lobby', 'Count me in');
  await carol.page.fill('#room-input', 'Me too, 8 pm?');
  await carol.page.press('#room-input', 'Enter');
  for (const page of [carol.page, dave.page]) {
    await page.locator('#room-messages .msg', { hasText: '8 pm?' }).waitFor();
    assert.deepEqual(await messageTexts(page, '#room-messages'), ['Hi all! Who is up for a game tonight? 🎲', 'Count me in', 'Me too, 8 pm?']);
  }
  await screenshot(carol.page, 'room-desktop');
  await screenshot(dave.page, 'room-phone');

  await dave.page.click('#leave-room');
  await carol.page.locator('#room-messages .notice', { hasText: 'dave left the room' }).waitFor();
  await carol.page.locator('#room-count', { hasText: '3/8' }).waitFor();
  assert.deepEqual(await seats(carol.page), ['🦊 carol', '🪑 empty', '🐸 emma', '🐙 finn', ...free(4)]);
  assert.deepEqual(clean(carol, dave, bots), []);
});

test('a full room says so, and a freed seat can be taken', async () => {
  const names = ['gus', 'hana', 'ivan', 'jade', 'kim', 'leo', 'mia', 'ned'];
  assert.deepEqual(await addBots(names, 'tiny'), Array(8).fill('update'));
  await join(dave, 'tiny');
  await dave.page.locator('#room-full', { hasText: 'All 8 seats are taken' }).waitFor();
  assert.ok(await dave.page.locator('#room-form').isHidden(), 'no composer without a seat');
  assert.equal(await dave.page.locator('#seats .seat.me').count(), 0);

  await bot('kim', 'leaveRoom', 'tiny');
  await dave.page.click('#retry-join');
  await dave.page.locator('#seats .seat.me', { hasText: 'dave' }).waitFor();
  assert.ok(await dave.page.locator('#room-full').isHidden());
  assert.deepEqual((await seats(dave.page))[4], '🦉 dave', 'the freed seat, with its own emoji');
  assert.deepEqual(clean(carol, dave, bots), []);
});
