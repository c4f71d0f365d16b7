// The gateway's CORS in a real browser (run by tests/ui.rs): a page on an allowed origin
// that is not the daemon's own (the daemon's UI opened as http://localhost:PORT, calling
// http://127.0.0.1:PORT/mcp/NAME) initializes an MCP session, reads the session id and
// calls a tool; a page whose origin is not allowed (about:blank, origin "null") cannot.
//
// Env: MCP_MANAGER_URL (http://127.0.0.1:PORT), MCP_SERVER (a running server's name),
// CHROMIUM_PATH (default /usr/bin/chromium).

import { failer, launch } from './browser.mjs';

const BASE = process.env.MCP_MANAGER_URL;
const SERVER = process.env.MCP_SERVER;

const fail = failer('CORS');
if (!BASE || !SERVER) fail('MCP_MANAGER_URL and MCP_SERVER must be set');
const endpoint = `${BASE}/mcp/${SERVER}`;
const page_origin = BASE.replace('127.0.0.1', 'localhost');
if (page_origin === BASE) fail(`MCP_MANAGER_URL must use 127.0.0.1, got ${BASE}`);

// Runs in the page: a whole MCP exchange with fetch, as a browser client would.
async function exchange(url) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = (body, session) =>
    fetch(url, {
      method: 'POST',
      headers: session ? { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } : headers,
      body: JSON.stringify(body),
    });
  try {
    const init = await post({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'page', version: '0' } },
    });
    const session = init.headers.get('mcp-session-id');
    const server = (await init.json()).result?.serverInfo?.name ?? null;
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    const list = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, session);
    const tools = ((await list.json()).result?.tools ?? []).map((t) => t.name);
    return { ok: true, status: init.status, session, server, tools };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
}

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${page_origin}/`);
  const allowed = await page.evaluate(exchange, endpoint);
  console.log(`from ${page_origin}: ${JSON.stringify(allowed)}`);
  if (!allowed.ok) fail(`the allowed page could not call the gateway: ${allowed.error}`);
  if (allowed.status !== 200) fail(`initialize answered ${allowed.status}`);
  if (!allowed.session) fail('the page could not read Mcp-Session-Id (not exposed)');
  if (!allowed.tools.length) fail('tools/list gave no tools');

  const blank = await browser.newPage();
  await blank.goto('about:blank');
  const refused = await blank.evaluate(exchange, endpoint);
  console.log(`from about:blank: ${JSON.stringify(refused)}`);
  if (refused.ok) fail('a page whose origin is not allowed read the gateway\'s answer');
  console.log('CORS OK');
} finally {
  await browser.close();
}
