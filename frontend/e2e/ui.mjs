#!/usr/bin/env node
// Browser test of the web UI against a real daemon with real fixture servers, driven by
// playwright-core and the system's chromium (no browser download).
//
// Env: MCP_MANAGER_URL (daemon serving the built UI at /, required), CHROMIUM_PATH
// (default /usr/bin/chromium), SCREENSHOT_DIR (default ./e2e-screenshots), FIXTURE_PY
// (absolute path of tests/fixtures/mcp_fixture.py), PYTHON (default python3).
// The remote-server steps start the fixture in HTTP mode on a free loopback port themselves.
// The daemon should check health often (e.g. MCP_MANAGER_HEALTH_INTERVAL=1).
// Exit code 0 on success; otherwise the failing step and why.
import { deepStrictEqual } from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.MCP_MANAGER_URL ?? '').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'e2e-screenshots');
const FIXTURE = process.env.FIXTURE_PY || resolve(import.meta.dirname, '../../tests/fixtures/mcp_fixture.py');
const PYTHON = process.env.PYTHON || 'python3';
const HEADLESS = process.env.HEADED !== '1';

function fail(msg) {
  console.error(`\nUI TEST FAILED: ${msg}`);
  process.exit(1);
}
if (!BASE) fail('MCP_MANAGER_URL is not set (the URL of a running daemon that serves the built UI at /)');
if (!existsSync(CHROMIUM)) fail(`chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
if (!existsSync(FIXTURE)) fail(`fixture not found at ${FIXTURE} (set FIXTURE_PY)`);
mkdirSync(SHOTS, { recursive: true });

const suffix = Date.now().toString(36).slice(-5);
const NAME = `py-fixture-${suffix}`;
const IMPORT_A = `imported-a-${suffix}`;
const IMPORT_B = `imported-b-${suffix}`;
const TOKEN = `zebra${suffix}marker`;
const REMOTE = `remote-${suffix}`;
const IMPORT_R = `imported-remote-${suffix}`;

/** A free loopback port (asked of the OS, then released for the fixture to take). */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
async function waitListening(port, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((res) => {
      const c = createConnection({ port, host: '127.0.0.1' }, () => {
        c.destroy();
        res(true);
      });
      c.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The remote server: the same fixture, serving Streamable HTTP on a port of its own.
let remoteFixture = null;
let remoteUrl = '';
async function startRemoteFixture() {
  const port = await freePort();
  remoteFixture = spawn(PYTHON, [FIXTURE, '--http', String(port), '--http-host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  remoteFixture.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise((_, rej) => remoteFixture.once('exit', (code) => rej(new Error(`the HTTP fixture exited (${code}): ${stderr}`))));
  await Promise.race([waitListening(port, 15_000), exited]);
  remoteUrl = `http://127.0.0.1:${port}/mcp`;
  return remoteUrl;
}
function stopRemoteFixture() {
  if (remoteFixture && remoteFixture.exitCode === null) remoteFixture.kill('SIGKILL');
  remoteFixture = null;
}
process.on('exit', stopRemoteFixture);

async function api(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return json?.data;
}

/** RFC 4180: quoted fields with commas, quotes and newlines. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') q = false;
      else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const consoleErrors = [];
let step = 'start';
let shotN = 0;
const t0 = Date.now();
function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: HEADLESS,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});
// Clipboard permissions: the Connect panel's Copy button is checked by reading the clipboard.
const context = await browser.newContext({
  viewport: { width: 1280, height: 860 },
  acceptDownloads: true,
  colorScheme: 'light',
  permissions: ['clipboard-read', 'clipboard-write'],
});
const page = await context.newPage();
page.setDefaultTimeout(15_000);
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(`[${step}] ${m.text()} (${m.location().url})`);
});
page.on('pageerror', (e) => consoleErrors.push(`[${step}] page error: ${e.message}`));

async function shot(name) {
  const file = `${SHOTS}/${String(++shotN).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
}
async function run(name, fn) {
  step = name;
  log(name);
  await fn();
}
const row = (name) => page.locator(`[data-testid=server-row][data-name="${name}"]`);

try {
  await run('open the server list', async () => {
    await page.goto(BASE + '/');
    await page.getByRole('heading', { name: 'Servers', exact: true }).waitFor();
    await page.locator('[data-testid=connection-state][data-state=open]').waitFor();
    await shot('server-list');
  });

  await run('add a Python fixture server through the form', async () => {
    await page.getByRole('link', { name: '+ Add server' }).first().click();
    await page.getByRole('heading', { name: 'Add a server', exact: true }).waitFor();
    // Client-side validation first: submitting empty shows field errors.
    await page.getByTestId('submit-server').click();
    await page.locator('[data-field-error]').first().waitFor();
    await page.getByLabel('Name', { exact: true }).fill(NAME);
    await page.getByLabel('Type', { exact: true }).selectOption('python');
    await page.getByLabel('Command', { exact: true }).fill(PYTHON);
    await page.getByTestId('add-arg').click();
    await page.getByLabel('Argument 1', { exact: true }).fill(FIXTURE);
    await shot('add-server-form');
    await page.getByTestId('submit-server').click();
    await page.waitForURL(`**/servers/${NAME}`);
    await page.getByTestId('server-title').filter({ hasText: NAME }).waitFor();
  });

  await run('watch it reach running and healthy without reloading', async () => {
    const navs = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && navs.push(f.url()));
    await page.locator('[data-testid=status][data-status=running]').first().waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=health][data-health=healthy]').first().waitFor({ timeout: 30_000 });
    if (navs.some((u) => u === page.url())) throw new Error('the page reloaded');
    await page.getByTestId('mcp-tools').getByText('echo', { exact: true }).waitFor();
    await shot('server-overview');
  });

  await run('health tab', async () => {
    await page.getByTestId('tab-health').click();
    await page.getByTestId('health-summary').waitFor();
    await page.getByTestId('health-chart').waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Check now' }).click();
    await page.getByText(/Check passed/).waitFor();
    await shot('server-health');
  });

  await run('logs: a live line, then find it by search', async () => {
    await page.getByTestId('tab-logs').click();
    await page.getByTestId('log-list').waitFor();
    await page.locator('[data-testid=log-line]').first().waitFor();
    await api('POST', `/api/servers/${NAME}/tools/log/call`, { arguments: { level: 'warning', message: `hello ${TOKEN} from the UI test` } });
    // The live tail shows it without a reload (it follows the newest lines).
    await page.locator('[data-testid=log-line]', { hasText: TOKEN }).waitFor();
    await page.getByTestId('log-search').fill(TOKEN);
    await page.getByTestId('log-search').press('Enter');
    await page.getByTestId('log-status').getByText(/1 match for/).waitFor();
    const hit = page.locator('[data-testid=log-line]', { hasText: TOKEN });
    await hit.waitFor();
    const marked = await hit.locator('mark').first().textContent();
    if (marked?.toLowerCase() !== TOKEN.toLowerCase()) throw new Error(`search match not highlighted (mark: ${marked})`);
    await shot('server-logs-search');
  });

  await run('export CSV and find the line in it', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    const path = await download.path();
    const rows = parseCsv(readFileSync(path, 'utf8'));
    const header = rows[0] ?? [];
    const mi = header.indexOf('message');
    if (mi < 0) throw new Error(`CSV has no message column: ${header.join(',')}`);
    const found = rows.slice(1).filter((r) => (r[mi] ?? '').includes(TOKEN));
    if (found.length !== 1) throw new Error(`expected 1 CSV row with ${TOKEN}, got ${found.length} of ${rows.length - 1}`);
    log(`CSV ${download.suggestedFilename()}: ${rows.length - 1} rows, line found (level ${found[0][header.indexOf('level')]})`);
  });

  await run('connect: the Cursor snippet is the API\'s, and Copy puts it on the clipboard', async () => {
    await page.getByTestId('tab-connect').click();
    await page.getByTestId('connect-panel').waitFor();
    await page.getByTestId('connect-client-cursor').click();
    const want = await api('GET', `/api/servers/${NAME}/client-config?client=cursor`);
    const snippet = page.getByTestId('connect-snippet');
    // Wait for Cursor's answer (the first shown is Claude Desktop's, which has no /mcp/NAME).
    await snippet.locator('pre').filter({ hasText: `/mcp/${NAME}` }).waitFor();
    deepStrictEqual(JSON.parse((await snippet.locator('pre').textContent()) ?? ''), want.config, 'the shown snippet');
    await snippet.getByRole('button', { name: 'Copy', exact: true }).click();
    await snippet.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    deepStrictEqual(JSON.parse(clip), want.config, 'the copied snippet');
    await page.getByTestId('connect-url').getByText(want.url, { exact: true }).waitFor();
    await snippet.getByText(`Add to ${want.file}`, { exact: true }).waitFor();
    await shot('server-connect-cursor');
    // Claude Code: its `claude mcp add` command too, with a Copy button of its own.
    await page.getByTestId('connect-client-claude-code').click();
    const code = await api('GET', `/api/servers/${NAME}/client-config?client=claude-code`);
    const command = page.getByTestId('connect-command');
    await command.locator('pre').getByText(code.command, { exact: true }).waitFor();
    await command.getByRole('button', { name: 'Copy command', exact: true }).click();
    await command.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== code.command) throw new Error(`copied ${JSON.stringify(copied)}, not ${JSON.stringify(code.command)}`);
  });

  await run('stop it and see stopped', async () => {
    await page.getByRole('button', { name: `Stop ${NAME}`, exact: true }).click();
    await page.locator('[data-testid=status][data-status=stopped]').first().waitFor({ timeout: 20_000 });
    await page.getByTestId('tab-overview').click();
    await page.getByText(/exit code|killed by|exited/).first().waitFor();
    await shot('server-stopped');
  });

  await run('kill its process from outside: the list shows it within 1 s', async () => {
    await page.getByRole('button', { name: `Start ${NAME}`, exact: true }).click();
    await page.locator('[data-testid=status][data-status=running]').first().waitFor({ timeout: 30_000 });
    await page.getByRole('link', { name: '← Servers' }).click();
    const r = row(NAME);
    await r.locator('[data-testid=status][data-status=running]').waitFor();
    const server = await api('GET', `/api/servers/${NAME}`);
    if (!server.process_id) throw new Error('running server has no process_id');
    const handle = await r.elementHandle();
    const killedAt = Date.now();
    process.kill(server.process_id, 'SIGKILL');
    await page.waitForFunction((el) => el.querySelector('[data-testid=status]')?.getAttribute('data-status') !== 'running', handle, {
      timeout: 1000,
      polling: 'raf',
    });
    const took = Date.now() - killedAt;
    const status = await r.locator('[data-testid=status]').getAttribute('data-status');
    log(`the page showed "${status}" ${took} ms after the kill`);
    await shot('server-list-after-kill');
    await r.locator('[data-testid=status][data-status=running]').waitFor({ timeout: 30_000 });
  });

  await run('add a remote server (the fixture over HTTP) through the form', async () => {
    const url = await startRemoteFixture();
    log(`HTTP fixture at ${url}`);
    await page.getByRole('link', { name: 'Add server', exact: true }).click();
    await page.getByRole('heading', { name: 'Add a server', exact: true }).waitFor();
    // Fill local fields first, then switch to Remote: none of them may be sent.
    await page.getByLabel('Command', { exact: true }).fill(PYTHON);
    await page.getByTestId('add-arg').click();
    await page.getByLabel('Argument 1', { exact: true }).fill(FIXTURE);
    await page.getByLabel('Name', { exact: true }).fill(REMOTE);
    await page.getByLabel('Type', { exact: true }).selectOption('remote');
    await page.getByLabel('URL', { exact: true }).fill(url);
    await page.getByTestId('toggle-advanced').click();
    await page.getByLabel('Check interval (s)', { exact: true }).fill('1');
    await page.getByLabel('Quick failures before failed', { exact: true }).fill('3');
    await shot('add-remote-form');
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/servers'),
      page.getByTestId('submit-server').click(),
    ]);
    const body = req.postDataJSON();
    const allowed = ['name', 'type', 'url', 'health', 'health_endpoint', 'restart_policy', 'start_timeout_secs', 'backoff', 'start'];
    const extra = Object.keys(body).filter((k) => !allowed.includes(k));
    if (extra.length) throw new Error(`the remote create body has local fields: ${extra.join(', ')} (${JSON.stringify(body)})`);
    if (body.type !== 'remote' || body.url !== url || body.health?.interval_secs !== 1 || body.backoff?.max_failures !== 3)
      throw new Error(`unexpected remote create body ${JSON.stringify(body)}`);
    await page.waitForURL(`**/servers/${REMOTE}`);
    await page.locator('[data-testid=status][data-status=running]').first().waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=health][data-health=healthy]').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('mcp-tools').getByText('echo', { exact: true }).waitFor();
    const server = await api('GET', `/api/servers/${REMOTE}`);
    if (server.transport !== 'http' || server.process_id) throw new Error(`remote server as the API shows it: ${JSON.stringify(server)}`);
    await shot('remote-overview');
  });

  await run('import two servers from an mcpServers JSON', async () => {
    await page.getByRole('link', { name: 'Import', exact: true }).click();
    await page.getByRole('heading', { name: 'Import servers', exact: true }).waitFor();
    const doc = {
      mcpServers: {
        [IMPORT_A]: { command: PYTHON, args: [FIXTURE], env: { FIXTURE_NOTE: 'a' } },
        [IMPORT_B]: { command: PYTHON, args: [FIXTURE, '--stderr-lines', '3'] },
        [IMPORT_R]: { type: 'http', url: remoteUrl },
        [NAME]: { command: PYTHON, args: [FIXTURE] },
      },
    };
    await page.getByTestId('import-json').fill(JSON.stringify(doc, null, 2));
    await page.locator('[data-testid=import-row]').nth(3).waitFor();
    const conflict = await page.locator(`[data-testid=import-row][data-name="${NAME}"] [data-testid=import-result]`).textContent();
    if (!/exists/.test(conflict ?? '')) throw new Error(`existing name not flagged as a conflict: ${conflict}`);
    await shot('import-preview');
    await page.getByTestId('import-submit').click();
    for (const n of [IMPORT_A, IMPORT_B, IMPORT_R]) {
      await page.locator(`[data-testid=import-row][data-name="${n}"] [data-testid=import-result]`).getByText('created').waitFor();
    }
    await shot('import-results');
    await page.getByRole('link', { name: 'Go to servers' }).click();
    await row(IMPORT_A).waitFor();
    await row(IMPORT_B).waitFor();
    await row(IMPORT_B).locator('[data-testid=status][data-status=running]').waitFor({ timeout: 30_000 });
    // The VS Code `type: "http"` entry became a remote server, connected to the fixture.
    await row(IMPORT_R).locator('[data-testid=status][data-status=running]').waitFor({ timeout: 30_000 });
    const imported = await api('GET', `/api/servers/${IMPORT_R}`);
    if (imported.type !== 'remote' || imported.url !== remoteUrl) throw new Error(`imported remote server: ${JSON.stringify(imported)}`);
  });

  await run('delete one (with confirmation)', async () => {
    await page.getByRole('button', { name: `Delete ${IMPORT_B}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Delete server' }).waitFor();
    await shot('delete-confirm');
    await dialog.getByRole('button', { name: 'Delete server' }).click();
    await row(IMPORT_B).waitFor({ state: 'detached' });
    await row(IMPORT_A).waitFor();
    await shot('server-list-final');
  });

  await run('dark mode renders', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${BASE}/servers/${NAME}/logs`);
    await page.locator('[data-testid=log-line]').first().waitFor();
    await shot('dark-logs');
    await page.goto(`${BASE}/`);
    await row(NAME).waitFor();
    await shot('dark-server-list');
  });

  const errors = consoleErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
  if (errors.length) throw new Error(`console errors:\n  ${errors.join('\n  ')}`);
} catch (e) {
  try {
    await shot(`FAILED-${step.replace(/\W+/g, '-')}`);
  } catch {
    /* the page may be gone */
  }
  await browser.close();
  for (const n of [NAME, IMPORT_A, IMPORT_B, REMOTE, IMPORT_R]) await api('DELETE', `/api/servers/${n}`).catch(() => {});
  stopRemoteFixture();
  fail(`step "${step}": ${e instanceof Error ? e.message : String(e)}${consoleErrors.length ? `\nconsole errors:\n  ${consoleErrors.join('\n  ')}` : ''}`);
}

// Leave the daemon as we found it (best effort).
for (const n of [NAME, IMPORT_A, IMPORT_B, REMOTE, IMPORT_R]) await api('DELETE', `/api/servers/${n}`).catch(() => {});
stopRemoteFixture();
await browser.close();
log(`UI test passed; screenshots in ${SHOTS}`);
