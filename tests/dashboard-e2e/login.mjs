// The dashboard's login in the system's headless Chromium (playwright-core), for a broker that requires users.
// Usage: node login.mjs <dashboard URL> <screenshot directory> <user> <password> <room the user may see> <room they may not>
// Prints LOGIN-FORM, LOGIN-REFUSED, LOGIN-OK, DONE as it goes; every wait is bounded.
import { chromium } from 'playwright-core';

const [url, screenshots, user, password, visible, hidden] = process.argv.slice(2);
if (!hidden) {
  console.error('usage: node login.mjs <url> <screenshot directory> <user> <password> <visible room> <hidden room>');
  process.exit(2);
}

const WAIT = { timeout: 15000 };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#login:not([hidden])', WAIT);
  if (await page.locator('#dashboard').isVisible()) throw new Error('the dashboard is visible before logging in');
  console.log('LOGIN-FORM');

  await page.fill('input[name="user"]', user);
  await page.fill('input[name="password"]', `${password}-wrong`);
  await page.click('#login-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.trim().length > 0, null, WAIT);
  console.log('LOGIN-REFUSED');

  await page.fill('input[name="user"]', user);
  await page.fill('input[name="password"]', password);
  await page.click('#login-form button[type="submit"]');
  await page.waitForSelector(`.card[data-room="${visible}"]`, WAIT);
  await page.waitForFunction(() => document.querySelector('#live')?.dataset.state === 'live', null, WAIT);
  const rooms = await page.locator('.card').evaluateAll((cards) => cards.map((c) => c.dataset.room));
  if (rooms.includes(hidden)) throw new Error(`${user} sees ${hidden}: ${rooms}`);
  if (await page.locator('#broker').isVisible()) throw new Error(`${user} sees the broker panel`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'sensornode_session');
  if (!session || !session.httpOnly || session.sameSite !== 'Strict') throw new Error(`session cookie: ${JSON.stringify(session)}`);
  if (await page.evaluate(() => document.cookie.includes('sensornode_session'))) throw new Error('the session cookie is readable from JavaScript');
  console.log(`LOGIN-OK ${rooms.join(',')}`);
  await page.screenshot({ path: `${screenshots}/dashboard-login.png`, fullPage: true });

  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', WAIT);
  console.log('DONE');
} finally {
  await browser.close();
}
