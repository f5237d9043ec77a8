// Helpers of the browser tests: Debian's chromium driven by playwright-core
// against the server at MINICHAT_URL (web/browser_test.go starts it).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

import { chromium } from 'playwright-core';

export const BASE = process.env.MINICHAT_URL;
if (!BASE) throw new Error('MINICHAT_URL is not set: run these tests through `go test ./web` (web/browser_test.go)');

export const PASSWORD = 'correct-horse-9';
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

// A failure bound for every wait: long enough for a loaded 2-core machine.
const WAIT_MS = 30000;

// launch starts a headless chromium that makes no connection of its own:
// this machine reaches nothing but loopback and package registries, and
// without these flags chromium hangs on its background requests.
// Playwright gives every launch a fresh, temporary --user-data-dir.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

// open returns a page of the web client in a browser context of its own
// (its own storage: another user), recording dialogs, uncaught errors and
// CSP violations, which every test checks are absent.
export async function open(browser, device = DESKTOP) {
  const context = await browser.newContext({ ...device, locale: 'en-GB', timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT_MS);
  const user = { context, problems: [], dialogs: [] };
  await openPage(user);
  return user;
}

// reopen closes a user's page and opens the client again in the same
// context: the same user, logged in from the session kept in localStorage.
export async function reopen(user) {
  await user.page.close();
  await openPage(user);
  await user.page.locator('#status[data-status="open"]').waitFor();
  return user;
}

async function openPage(user) {
  const page = await user.context.newPage();
  const { problems, dialogs } = user;
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
  });
  // Failed loads show up as responses above; a socket failing while the
  // network is down is what the offline test is about.
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && !/^Failed to load resource|WebSocket connection to .* failed/.test(text)) {
      problems.push(`console error: ${text}`);
    }
  });
  await page.goto(BASE);
  user.page = page;
}

// register creates an account through the login form and waits until the
// client is connected.
export async function register(user, name) {
  const { page } = user;
  await page.fill('#username', name);
  await page.fill('#password', PASSWORD);
  await page.click('#register-button');
  await page.locator('#status[data-status="open"]').waitFor();
  await page.locator('#me-name', { hasText: name }).waitFor({ state: 'attached' });
  user.name = name;
  return user;
}

// chatWith opens the conversation with `name` through the user search.
export async function chatWith(user, name) {
  const { page } = user;
  await page.fill('#search', name);
  await page.locator('#search-results .item', { hasText: name }).first().click();
  await page.locator('#peer-name', { hasText: name }).waitFor();
}

// joinRoom joins a room through the sidebar and waits for the user's seat.
export async function joinRoom(user, room) {
  await user.page.fill('#room-name', room);
  await user.page.press('#room-name', 'Enter');
  await user.page.locator('#seats .seat.me').waitFor();
}

// send sends a private message in the open conversation and waits for
// its ack (the pending bubble turns into a stored one).
export async function send(user, text) {
  const { page } = user;
  await page.fill('#private-input', text);
  await page.press('#private-input', 'Enter');
  await page.locator('#private-messages .msg.mine:not(.pending)', { hasText: text }).last().waitFor();
}

export async function messageTexts(page, list = '#private-messages') {
  return page.locator(`${list} .msg .text`).allTextContents();
}

// screenshot saves a picture under MINICHAT_SCREENSHOTS, when set (`make
// screenshots`): tests do not rewrite the docs on every run.
export async function screenshot(page, name) {
  const dir = process.env.MINICHAT_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

// clean lists the dialogs, uncaught errors, failed requests and CSP
// violations of users' pages; tests expect none.
export function clean(...users) {
  return users.flatMap((u) => [...u.problems, ...u.dialogs.map((d) => `dialog ${d}`)]);
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// png encodes a w×h RGB picture whose pixel colours come from rgb(x, y).
export function png(w, h, rgb) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set(rgb(x, y), y * (1 + 3 * w) + 1 + 3 * x);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// control stops or starts the server (same address, same data) through
// web/browser_test.go's control endpoint.
export async function control(action) {
  const url = process.env.MINICHAT_CONTROL_URL;
  if (!url) throw new Error('MINICHAT_CONTROL_URL is not set: run these tests through `go test ./web`');
  const res = await fetch(`${url}/${action}`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`server ${action}: HTTP ${res.status} ${await res.text()}`);
}
