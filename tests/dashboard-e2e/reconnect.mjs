// The dashboard reconnects by itself when the broker restarts (headless system Chromium via playwright-core).
// Usage: node reconnect.mjs <dashboard URL> <room> <value before> <value after>
// Prints LIVE once the page is live with <value before>, then (the test restarts the broker and publishes
// <value after>) RECONNECTED once the page is live again and shows it. Every wait is bounded.
import { chromium } from 'playwright-core';

const [url, room, before, after] = process.argv.slice(2);
if (!after) {
  console.error('usage: node reconnect.mjs <url> <room> <value before> <value after>');
  process.exit(2);
}

const WAIT = { timeout: 20000 };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  const shows = (value) => page.waitForFunction(([r, v]) =>
    document.querySelector(`.card[data-room="${r}"] .reading.temperature .value`)?.textContent.trim() === v
      && document.querySelector('#live')?.dataset.state === 'live', [room, value], WAIT);
  await shows(before);
  console.log('LIVE');
  await page.waitForFunction(() => document.querySelector('#live')?.dataset.state !== 'live', null, WAIT);
  console.log('LOST');
  await shows(after);
  console.log('RECONNECTED');
} finally {
  await browser.close();
}
