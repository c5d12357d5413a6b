// The dashboard showing the firmware simulator's nodes (headless system Chromium via playwright-core).
// Usage: node simulator.mjs <dashboard URL> <screenshot directory> <room>=<temperature>/<humidity> ...
// The simulator has been killed (no DISCONNECT): every room must show its last values and be offline, with a chart.
import { chromium } from 'playwright-core';

const [url, screenshots, ...expected] = process.argv.slice(2);
if (expected.length === 0) {
  console.error('usage: node simulator.mjs <url> <screenshot directory> <room>=<temperature>/<humidity> ...');
  process.exit(2);
}

const WAIT = { timeout: 15000 };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  for (const item of expected) {
    const [room, values] = item.split('=');
    const [temperature, humidity] = values.split('/').map(Number);
    await page.waitForFunction(([r, t, h]) => {
      const card = document.querySelector(`.card[data-room="${r}"]`);
      const shown = (type) => Number(card?.querySelector(`.reading.${type} .value`)?.textContent);
      return card?.dataset.status === 'offline'
        && Math.abs(shown('temperature') - t) < 0.05 && Math.abs(shown('humidity') - h) < 0.05
        && Number(card.querySelector('svg.chart')?.dataset.points) >= 2;
    }, [room, temperature, humidity], WAIT);
    console.log(`ROOM-OK ${room}`);
  }
  await page.screenshot({ path: `${screenshots}/dashboard-simulator.png`, fullPage: true });
  console.log('DONE');
} finally {
  await browser.close();
}
