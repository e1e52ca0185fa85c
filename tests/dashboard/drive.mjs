// Drives Parse Dashboard (already running at DASHBOARD_URL, pointed at our server at SERVER_URL) in Debian's
// headless chromium, as a person would, and prints one JSON report on its last line of output:
//   {steps: {name: {ok, detail}}, serverErrors: ["GET /path 404", ...]}
// Each step waits for what a person would see, with a bound; a failed step records why and the run goes on.
import { chromium } from 'playwright-core';

const dashboard = process.env.DASHBOARD_URL.replace(/\/$/, '');
const server = new URL(process.env.SERVER_URL);
const app = process.env.APP_NAME;
const shots = process.env.SCREENSHOT_DIR;
const STEP_MS = 15000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(STEP_MS);
// offline: the dashboard's web fonts are on the internet; refuse them at once rather than wait for DNS
await page.route(url => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost', route => route.abort());

const serverErrors = [];
const pageErrors = [];
page.on('pageerror', error => pageErrors.push(String(error.message).slice(0, 300)));
page.on('response', response => {
  const url = new URL(response.url());
  if (url.host !== server.host || response.status() < 400) return;
  let method = response.request().method();
  try { method = JSON.parse(response.request().postData() || '{}')._method || method; } catch { /* not JSON */ }
  serverErrors.push(`${method} ${url.pathname.slice(server.pathname.length)} ${response.status()}`);
});

const steps = {};
async function step(name, run) {
  try {
    steps[name] = { ok: true, detail: (await run()) ?? null };
  } catch (error) {
    steps[name] = { ok: false, detail: String(error.message).split('\n')[0] };
    if (shots) await page.screenshot({ path: `${shots}/${name}.png` }).catch(() => {});
  }
}

// A wait for our server's reply to one request. Made before the action that sends it; if the step fails before
// awaiting it, its later timeout must not end the whole run as an unhandled rejection.
function serverReply(method, pathPrefix, statuses) {
  const reply = page.waitForResponse(response => {
    const url = new URL(response.url());
    if (url.host !== server.host || !url.pathname.startsWith(server.pathname + pathPrefix)) return false;
    let actual = response.request().method();
    try { actual = JSON.parse(response.request().postData() || '{}')._method || actual; } catch { /* */ }
    return actual === method && statuses.includes(response.status());
  });
  reply.catch(() => {});
  return reply;
}

await step('browser_lists_classes', async () => {
  await page.goto(`${dashboard}/apps/${app}/browser/Game`, { waitUntil: 'commit' });
  await page.getByText('beta', { exact: true }).waitFor();
  return await page.locator('a[href*="/browser/"]').allInnerTexts();
});

await step('browser_shows_rows', async () => {
  const cells = [];
  for (const name of ['alpha', 'beta', 'gamma']) {
    if (await page.getByText(name, { exact: true }).count()) cells.push(name);
  }
  return cells;
});

await step('edit_a_cell', async () => {
  await page.getByText('alpha', { exact: true }).dblclick();
  const saved = serverReply('PUT', '/classes/Game/', [200]);
  await page.keyboard.press('Control+A');
  await page.keyboard.type('omega');
  await page.keyboard.press('Enter');
  await saved;
  await page.getByText('omega', { exact: true }).waitFor();
  return 'omega';
});

await step('add_a_row', async () => {
  await page.getByText('Add Row').first().click();
  const header = await page.getByText('name', { exact: true }).first().boundingBox();
  const blanks = page.getByText('(undefined)', { exact: true });
  await blanks.first().waitFor();
  let target = null;
  for (const cell of await blanks.all()) {
    const box = await cell.boundingBox();
    if (box && header && Math.abs(box.x - header.x) < 40) { target = cell; break; }
  }
  if (target === null) throw new Error('no empty name cell in the new row');
  await target.dblclick();
  await page.keyboard.type('delta');
  await page.keyboard.press('Enter');
  const created = serverReply('POST', '/classes/Game', [200, 201]);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await created;
  await page.getByText('delta', { exact: true }).waitFor();
  return 'delta';
});

await step('add_a_column', async () => {
  await page.getByText('Edit', { exact: true }).last().click();
  await page.getByText('Add a column', { exact: true }).click();
  await page.getByPlaceholder('Give it a good name...').fill('level');
  const saved = serverReply('PUT', '/schemas/Game', [200]);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await saved;
  await page.getByText('level', { exact: true }).first().waitFor();
  return 'level';
});

await step('delete_a_row', async () => {
  const cell = await page.getByText('beta', { exact: true }).boundingBox();
  let box = null;
  for (const checkbox of await page.locator('input[type=checkbox]').all()) {
    const at = await checkbox.boundingBox();
    if (at && cell && Math.abs(at.y + at.height / 2 - (cell.y + cell.height / 2)) < 10) { box = checkbox; break; }
  }
  if (box === null) throw new Error('no checkbox on the row of beta');
  await box.check();
  await page.getByText('Edit', { exact: true }).last().click();
  await page.getByText('Delete this row', { exact: true }).click();
  // the dashboard deletes through /batch: what a person sees is the row going (the test then asks the server)
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('beta', { exact: true }).waitFor({ state: 'detached' });
  return 'beta';
});

await step('users_page', async () => {
  await page.locator('a[href$="/browser/_User"]').first().click();
  await page.getByText('ann', { exact: true }).waitFor();
  return 'ann';
});

await step('roles_page', async () => {
  await page.locator('a[href$="/browser/_Role"]').first().click();
  await page.getByText('Moderators', { exact: true }).waitFor();
  return 'Moderators';
});

await step('config_page', async () => {
  await page.locator('a[href$="/config"]').first().click();
  await page.getByText('welcome', { exact: true }).waitFor();
  return await page.getByText('hello').count();
});

await step('logs_page', async () => {
  await page.locator('a[href$="/logs"]').first().click();
  await page.getByText('/classes/Game', { exact: false }).first().waitFor();
  return await page.getByText('/classes/Game', { exact: false }).count();
});

await step('api_console', async () => {
  await page.locator('a[href$="/api_console"]').first().click();
  await page.getByPlaceholder('classes/_User').fill('classes/Game');
  await page.getByRole('button', { name: 'Send Query' }).click();
  await page.getByText('"omega"').waitFor();
  return 'omega';
});

await browser.close();
console.log(JSON.stringify({ steps, serverErrors, pageErrors }));
