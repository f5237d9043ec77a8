// Images and files: uploaded through POST /api/files and a presigned
// upload, announced with private-file-message, shown inline or as links.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, PHONE, chatWith, clean, launch, open, png, register, screenshot, send } from './lib.mjs';

let browser;
let olga;
let pete;

before(async () => {
  browser = await launch();
  olga = await register(await open(browser, DESKTOP), 'olga');
  pete = await register(await open(browser, PHONE), 'pete');
  await chatWith(olga, 'pete');
  await send(olga, 'Look at this sunset!');
  await pete.page.locator('#conversations .item', { hasText: 'olga' }).click();
  await pete.page.locator('#private-messages .msg', { hasText: 'sunset' }).waitFor();
});

after(async () => {
  await browser?.close();
});

test('an image shows inline and a file as a download link', async () => {
  // A sunset: sky fading to orange over a dark sea.
  const picture = png(240, 150, (x, y) => (y < 100 ? [255, 120 + y, 60 + y] : [30, 40, 90 + (x % 20)]));
  await olga.page.setInputFiles('#file-input', { name: 'sunset.png', mimeType: 'image/png', buffer: picture });
  await olga.page.locator('#private-messages .msg.mine:not(.pending) img.image').waitFor();
  const img = pete.page.locator('#private-messages .msg.theirs img.image');
  await img.waitFor();
  assert.equal(await img.getAttribute('alt'), 'sunset.png');
  const size = await img.evaluate(async (i) => {
    await i.decode();
    return [i.naturalWidth, i.naturalHeight];
  });
  assert.deepEqual(size, [240, 150], 'the picture itself, downloaded from its fileUrl');

  await olga.page.setInputFiles('#file-input', { name: 'menu.txt', mimeType: 'text/plain', buffer: Buffer.from('soup\nbread\n') });
  const link = pete.page.locator('#private-messages .msg.theirs a.file', { hasText: 'menu.txt' });
  await link.waitFor();
  assert.equal(await link.getAttribute('download'), 'menu.txt');
  const body = await pete.page.evaluate(async (href) => (await fetch(href)).text(), await link.getAttribute('href'));
  assert.equal(body, 'soup\nbread\n');
  await screenshot(pete.page, 'image-phone');
  assert.deepEqual(clean(olga, pete), []);
});
