// End-to-end check of the broker's dashboard in the system's headless Chromium, driven by playwright-core.
// Usage: node dashboard.mjs <dashboard URL> <screenshot directory>
// The xunit test (tests/SensorNode.Broker.Tests/Dashboard/DashboardBrowserTests.cs) publishes as simulated nodes
// and reads this script's stdout: VALUES-OK when the published values are on the page, then (after the test has
// published a new reading and killed a node without DISCONNECT) LIVE-OK, CHART-OK and DONE. Every wait is bounded.
import { chromium } from 'playwright-core';

const [url, screenshots] = process.argv.slice(2);
if (!url || !screenshots) {
  console.error('usage: node dashboard.mjs <url> <screenshot directory>');
  process.exit(2);
}

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const step = (line) => console.log(line);
const WAIT = { timeout: 15000 };

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => console.error(`[browser ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url, { waitUntil: 'domcontentloaded' });

  const text = (room, selector) => page.locator(`.card[data-room="${room}"] ${selector}`).first();
  const expectText = async (room, selector, expected) => {
    await page.waitForFunction(([r, s, e]) => {
      const node = document.querySelector(`.card[data-room="${r}"] ${s}`);
      return node !== null && node.textContent.trim() === e;
    }, [room, selector, expected], WAIT);
  };
  const expectStatus = (room, status) => page.waitForFunction(([r, s]) =>
    document.querySelector(`.card[data-room="${r}"]`)?.dataset.status === s, [room, status], WAIT);

  await expectText('kitchen', '.reading.temperature .value', '21.4');
  await expectText('kitchen', '.reading.temperature .unit', '°C');
  await expectText('kitchen', '.reading.humidity .value', '45.0');
  await expectText('kitchen', '.reading.humidity .unit', '%');
  await expectText('office', '.reading.temperature .value', '19.8');
  await expectStatus('kitchen', 'online');
  await expectStatus('office', 'online');
  await page.waitForFunction(() => document.querySelector('#live')?.dataset.state === 'live', null, WAIT);
  const age = await text('kitchen', '.age').textContent();
  if (!/updated \d+ s ago/.test(age)) throw new Error(`kitchen age is "${age}"`);
  await page.waitForFunction(() => document.querySelector('#b-clients')?.textContent.trim() !== '–', null, WAIT);
  step('VALUES-OK');

  // The test now publishes kitchen 22.9 and kills the office node without DISCONNECT (its LWT says offline).
  const started = Date.now();
  await expectText('kitchen', '.reading.temperature .value', '22.9');
  step(`LIVE-READING-MS ${Date.now() - started}`);
  await expectStatus('office', 'offline');
  const badge = (await text('office', '.badge').textContent()).trim();
  const since = (await text('office', '.since').textContent()).trim();
  if (badge.toLowerCase() !== 'offline' || !since.startsWith('since')) throw new Error(`office shows "${badge}" "${since}"`);
  step('LIVE-OK');

  await page.waitForFunction(() => Number(document.querySelector('.card[data-room="kitchen"] svg.chart')?.dataset.points) >= 2, null, WAIT);
  const drawn = await page.locator('.card[data-room="kitchen"] svg.chart polyline.series-temperature').count();
  const circles = await page.locator('.card[data-room="kitchen"] svg.chart circle').count();
  if (drawn < 1 || circles < 2) throw new Error(`kitchen chart: ${drawn} temperature lines, ${circles} points`);
  // Another range reloads the chart from /api/history.
  await page.click('button[data-range="1h"]');
  await page.waitForFunction(() => document.querySelector('button[data-range="1h"]').getAttribute('aria-pressed') === 'true'
    && Number(document.querySelector('.card[data-room="kitchen"] svg.chart')?.dataset.points) >= 2, null, WAIT);
  step(`CHART-OK ${circles}`);

  await page.screenshot({ path: `${screenshots}/dashboard-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${screenshots}/dashboard-phone.png`, fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`on a phone-sized screen the page is ${overflow} px wider than the screen`);
  step('DONE');
} finally {
  await browser.close();
}
