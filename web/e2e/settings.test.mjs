// The settings panel points the client at another server (a deployed
// stack): its URLs are kept in localStorage and used after the reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, DESKTOP, PASSWORD, clean, launch, open } from './lib.mjs';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function saveSettings(page, wsUrl, httpUrl) {
  await page.click('#settings-button');
  await page.fill('#ws-url', wsUrl);
  await page.fill('#http-url', httpUrl);
  await Promise.all([page.waitForEvent('load'), page.click('#settings-save')]);
}

test('the client uses the server URLs of its settings', async () => {
  const u = await open(browser, DESKTOP);
  const { page } = u;

  // Nothing listens on port 1: the client says it cannot reach the server.
  await saveSettings(page, 'ws://127.0.0.1:1/ws', 'http://127.0.0.1:1');
  assert.deepEqual(JSON.parse(await page.evaluate(() => localStorage.getItem('minichat.settings'))), {
    wsUrl: 'ws://127.0.0.1:1/ws',
    httpUrl: 'http://127.0.0.1:1',
  });
  await page.fill('#username', 'quinn');
  await page.fill('#password', PASSWORD);
  await page.click('#register-button');
  await page.locator('#login-error', { hasText: 'Cannot reach the server' }).waitFor();

  // The same server spelled out, as a deployed stack's URLs would be.
  const ws = `${BASE.replace(/^http/, 'ws')}/ws`;
  await saveSettings(page, ws, `${BASE}/api`);
  await page.fill('#username', 'quinn');
  await page.fill('#password', PASSWORD);
  await page.click('#register-button');
  await page.locator('#status[data-status="open"]').waitFor();

  // "Use this server" goes back to the page's own origin (and logs out).
  await page.click('#settings-button');
  assert.equal(await page.inputValue('#ws-url'), ws, 'the panel shows what is in use');
  await Promise.all([page.waitForEvent('load'), page.click('#settings-reset')]);
  assert.equal(await page.evaluate(() => localStorage.getItem('minichat.settings')), null);
  await page.locator('#login-form').waitFor();
  assert.deepEqual(clean(u), []);
});
