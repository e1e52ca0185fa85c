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
// wide enough for every column of the class with one field of each type
const page = await browser.newPage({ viewport: { width: 2400, height: 900 } });
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
  const stored = await (await saved).json();  // the schema as the server stored it (a later step removes it)
  await page.getByText('level', { exact: true }).first().waitFor();
  return stored.fields.level;
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

// A wait for our server's answer to a read whose body (`where`, `order`, ...) passes `test`.
function serverQuery(pathPrefix, test) {
  const reply = page.waitForResponse(response => {
    const url = new URL(response.url());
    if (url.host !== server.host || !url.pathname.startsWith(server.pathname + pathPrefix)) return false;
    try { return response.status() === 200 && test(JSON.parse(response.request().postData() || '{}')); } catch { return false; }
  });
  reply.catch(() => {});
  return reply;
}

// The texts of one column's cells, top to bottom, among `names`.
async function columnInOrder(names) {
  const rows = [];
  for (const name of names) {
    const cell = page.getByText(name, { exact: true });
    if (await cell.count()) rows.push([(await cell.first().boundingBox()).y, name]);
  }
  return rows.sort((a, b) => a[0] - b[0]).map(row => row[1]);
}

// Where to click for the cell of `column` in the row showing `rowText`.
async function cellAt(rowText, column) {
  const header = await page.getByText(column, { exact: true }).first().boundingBox();
  const row = await page.getByText(rowText, { exact: true }).first().boundingBox();
  return [header.x + 30, row.y + row.height / 2];
}

async function waitUntil(check, failure) {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > STEP_MS) throw new Error(failure);
    await page.waitForTimeout(100);
  }
}

async function openMenu(menu, item) {
  await page.getByText(menu, { exact: true }).last().click();
  await page.getByText(item, { exact: true }).click();
}

await step('sort_rows', async () => {
  const sorted = serverQuery('/classes/Game', body => /name/.test(body.order || ''));
  await page.getByText('name', { exact: true }).first().click();
  const order = (JSON.parse((await sorted).request().postData())).order;
  await page.waitForTimeout(300);  // the grid re-renders with the reply
  return { order, names: await columnInOrder(['omega', 'gamma', 'delta']) };
});

await step('filter_rows', async () => {
  // the dashboard's own filter link (what its Filter popover puts in the address bar)
  const filters = encodeURIComponent(JSON.stringify([{ field: 'name', constraint: 'eq', compareTo: 'gamma' }]));
  const filtered = serverQuery('/classes/Game', body => body.where && body.where.name === 'gamma');
  await page.goto(`${dashboard}/apps/${app}/browser/Game?filters=${filters}`, { waitUntil: 'commit' });
  await filtered;
  await page.getByText('gamma', { exact: true }).waitFor();
  return await columnInOrder(['omega', 'gamma', 'delta']);
});

await step('remove_a_column', async () => {
  await page.goto(`${dashboard}/apps/${app}/browser/Game`, { waitUntil: 'commit' });
  await page.getByText('level', { exact: true }).first().waitFor();
  await openMenu('Edit', 'Delete a column');
  await page.getByText('Select a column', { exact: true }).click();
  const level = page.getByText('level', { exact: true });
  // the column's header, then its option in the list
  await waitUntil(async () => (await level.count()) >= 2, 'the column list does not offer level');
  await level.last().click();
  const saved = serverReply('PUT', '/schemas/Game', [200]);
  await page.getByRole('button', { name: 'Remove', exact: true }).click();
  await saved;
  await waitUntil(async () => (await level.count()) === 0, 'the level column is still shown');
  return 'level';
});

// One edit per type, each through the dashboard's own editor for that type, each saved by a PUT.
await step('edit_each_type', async () => {
  await page.goto(`${dashboard}/apps/${app}/browser/Kind`, { waitUntil: 'commit' });
  await page.getByText('k1', { exact: true }).waitFor();
  const edited = [];
  async function edit(column, change) {
    const saved = serverReply('PUT', '/classes/Kind/', [200]);
    const [x, y] = await cellAt('k1', column);
    await page.mouse.dblclick(x, y);
    await change();
    await saved;
    edited.push(column);
  }
  const typed = async text => {
    await page.keyboard.press('Control+A');
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
  };
  await edit('count', () => typed('42'));
  await edit('owner', () => typed(process.env.POINTER_ID));  // a pointer is edited as the objectId it points to
  await edit('tags', () => typed('["a","b"]'));
  await edit('info', () => typed('{"a":2}'));
  await edit('flag', async () => {  // the True/False toggle, then Enter
    const label = await page.getByText('True', { exact: true }).last().boundingBox();
    await page.mouse.click(label.x - 20, label.y + label.height / 2);
    await page.keyboard.press('Enter');
  });
  await edit('when', async () => {  // typed, then committed by clicking away
    await page.keyboard.press('Control+A');
    await page.keyboard.type('2025-06-01T12:00:00.000Z');
    await page.getByText('Kind', { exact: true }).last().click();
  });
  await edit('ACL', async () => {  // the ACL dialog: public write off
    const write = await page.getByText('Write', { exact: true }).last().boundingBox();
    await page.mouse.click(write.x + write.width + 14, write.y + write.height / 2);
    await page.getByRole('button', { name: 'Save ACL' }).click();
  });
  await edit('label', () => typed('k2'));  // a string, last: the row is found by it
  return edited;
});

await step('delete_rows', async () => {
  await page.goto(`${dashboard}/apps/${app}/browser/Junk`, { waitUntil: 'commit' });
  await page.getByText('Scratch1', { exact: true }).waitFor();
  for (const name of ['Scratch1', 'Scratch2']) {
    const cell = await page.getByText(name, { exact: true }).boundingBox();
    for (const checkbox of await page.locator('input[type=checkbox]').all()) {
      const at = await checkbox.boundingBox();
      if (at && Math.abs(at.y + at.height / 2 - (cell.y + cell.height / 2)) < 10) await checkbox.check();
    }
  }
  await openMenu('Edit', 'Delete these rows');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('Scratch2', { exact: true }).waitFor({ state: 'detached' });
  await page.getByText('Scratch1', { exact: true }).waitFor({ state: 'detached' });
  return ['Scratch1', 'Scratch2'];
});

await step('edit_class_level_permissions', async () => {
  await openMenu('Security', 'Class Level Permissions');
  const publicRow = page.getByText('Public', { exact: true }).first().locator('..');
  await publicRow.getByText('Write', { exact: true }).click();  // its check box: public write off
  const saved = serverReply('PUT', '/schemas/Junk', [200]);
  await page.getByRole('button', { name: 'Save CLP' }).click();
  await saved;
  return 'Junk';
});

await step('create_a_class', async () => {
  await page.getByText('Create a class', { exact: true }).click();
  await page.getByPlaceholder('Give it a good name...').fill('Scratchpad');
  const created = serverReply('POST', '/schemas/Scratchpad', [200, 201]);
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await created;
  await page.locator('a[href$="/browser/Scratchpad"]').first().waitFor();
  return 'Scratchpad';
});

await step('delete_a_class', async () => {
  await page.goto(`${dashboard}/apps/${app}/browser/Scratchpad`, { waitUntil: 'commit' });
  await page.getByText('Add a new column', { exact: true }).first().waitFor();
  await openMenu('Edit', 'Delete this class');
  await page.getByRole('textbox').last().fill('Scratchpad');
  const deleted = serverReply('DELETE', '/schemas/Scratchpad', [200]);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await deleted;
  await page.locator('a[href$="/browser/Scratchpad"]').first().waitFor({ state: 'detached' });
  return 'Scratchpad';
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
  // the server's latest lines: with --log-requests, the dashboard's own requests (the class list, say)
  const requestLine = page.getByText(/(GET|POST|PUT) \/(schemas|classes|serverInfo)/);
  await requestLine.first().waitFor();
  return await requestLine.count();
});

await step('api_console', async () => {
  await page.locator('a[href$="/api_console"]').first().click();
  await page.getByPlaceholder('classes/_User').fill('classes/Game');
  await page.getByRole('button', { name: 'Send Query' }).click();
  await page.getByText('"omega"').waitFor();
  return 'omega';
});

await step('jobs_page', async () => {
  await page.locator('a[href$="/jobs"]').first().click();
  await page.getByText('nightlyCleanup', { exact: true }).waitFor();
  return 'nightlyCleanup';
});

await step('webhooks_page', async () => {
  const listed = serverReply('GET', '/hooks/functions', [200]);
  await page.locator('a[href$="/webhooks"]').first().click();
  await listed;
  return 'listed';
});

await step('cloud_function_in_api_console', async () => {
  await page.locator('a[href$="/api_console"]').first().click();
  await page.getByPlaceholder('classes/_User').fill('functions/hello');
  await page.getByRole('button', { name: 'Send Query' }).click();
  await page.getByText('"hello world"').waitFor();
  return 'hello world';
});

await browser.close();
console.log(JSON.stringify({ steps, serverErrors, pageErrors }));
