#!/usr/bin/env node
// Benchmarks of the web UI; prints figures (see docs/benchmarks.md for recorded ones).
//
// 1. Production bundle: what the first load of `/` downloads (index.html, entry JS, CSS and
//    modulepreloads), raw and gzipped, plus the lazily loaded chunks. Needs `npm run build`.
// 2. Log view (needs MCP_MANAGER_URL, a daemon serving the built UI, and chromium):
//    a) 100 000 lines fed through the page's own event path (`logs:new` messages into the
//       WebSocket client): time until they are rendered; then scrolling through them
//       (frame times while jumping top → bottom in 50 steps and wheel-scrolling).
//    b) live: a fixture server writes 100 000 lines to stderr while its log view is open;
//       time until the view holds them all (daemon → store → WebSocket → page).
//
// Env: MCP_MANAGER_URL, CHROMIUM_PATH (/usr/bin/chromium), FIXTURE_PY, PYTHON (python3),
// LINES (100000).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../dist');
const LINES = Number(process.env.LINES ?? 100_000);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

function bundle() {
  if (!existsSync(join(dist, 'index.html'))) {
    console.error('frontend/dist is missing: run `npm run build` first');
    process.exit(1);
  }
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="\/([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  const size = (f) => {
    const buf = readFileSync(join(dist, f));
    return { raw: buf.length, gz: gzipSync(buf, { level: 9 }).length };
  };
  let raw = Buffer.byteLength(html);
  let gz = gzipSync(html).length;
  console.log('First load of / (what the browser fetches before the app runs):');
  console.log(`  ${'index.html'.padEnd(40)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10)} gz`);
  for (const f of refs) {
    const s = size(f);
    raw += s.raw;
    gz += s.gz;
    console.log(`  ${f.padEnd(40)} ${kb(s.raw).padStart(10)} ${kb(s.gz).padStart(10)} gz`);
  }
  console.log(`  ${'total'.padEnd(40)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10)} gz  (target < 250 KB gz)`);
  const lazy = readdirSync(join(dist, 'assets')).filter((f) => !refs.includes(`assets/${f}`));
  if (lazy.length) {
    console.log('Loaded on demand:');
    for (const f of lazy) {
      const s = size(`assets/${f}`);
      console.log(`  ${`assets/${f}`.padEnd(40)} ${kb(s.raw).padStart(10)} ${kb(s.gz).padStart(10)} gz`);
    }
  }
  return { firstLoadGzip: gz };
}

async function logView() {
  const BASE = (process.env.MCP_MANAGER_URL ?? '').replace(/\/$/, '');
  if (!BASE) {
    console.log('\nLog view: skipped (set MCP_MANAGER_URL to a daemon serving the built UI)');
    return;
  }
  const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const FIXTURE = process.env.FIXTURE_PY || resolve(here, '../../tests/fixtures/mcp_fixture.py');
  const PYTHON = process.env.PYTHON || 'python3';
  const { chromium } = await import('playwright-core');
  const api = async (method, path, body) => {
    const r = await fetch(BASE + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
    return j.data;
  };
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const suffix = Date.now().toString(36).slice(-5);
  const quiet = `bench-quiet-${suffix}`;
  const flood = `bench-flood-${suffix}`;
  try {
    // a) injected lines
    const s = await api('POST', '/api/servers', { name: quiet, command: PYTHON, args: [FIXTURE] });
    await page.goto(`${BASE}/servers/${quiet}/logs`);
    await page.getByTestId('log-list').waitFor();
    await page.waitForFunction(() => !!window.__mcpManager);
    const r = await page.evaluate(
      async ({ id, n }) => {
        const frame = () => new Promise((res) => requestAnimationFrame(() => res(performance.now())));
        const ev = window.__mcpManager.events;
        const ts = new Date().toISOString();
        const msgs = [];
        const batch = 1000;
        for (let i = 0; i < n; i += batch) {
          const lines = [];
          for (let j = i; j < Math.min(n, i + batch); j++) {
            lines.push({ id: 1e9 + j, server_id: id, level: j % 50 === 0 ? 'warn' : 'info', original_level: null, source: 'stderr', message: `bench line ${j} level=info some realistic payload ${'x'.repeat(40)}`, timestamp: ts, truncated: false });
          }
          msgs.push(JSON.stringify({ type: 'logs:new', seq: i, ts, data: { server_id: id, lines } }));
        }
        await frame();
        const t0 = performance.now();
        for (const m of msgs) ev.handle(m);
        const list = document.querySelector('[data-testid=log-list]');
        while (!(list.textContent ?? '').includes(`bench line ${n - 1} `)) await frame();
        const rendered = performance.now() - t0;
        // Jump top → bottom in 50 steps, one frame each.
        const jumps = [];
        for (let k = 0; k <= 50; k++) {
          const a = performance.now();
          list.scrollTop = ((list.scrollHeight - list.clientHeight) * (50 - k)) / 50;
          await frame();
          await frame();
          jumps.push(performance.now() - a);
        }
        // Smooth scroll: 120 frames of 400 px.
        list.scrollTop = 0;
        await frame();
        const frames = [];
        let last = await frame();
        for (let k = 0; k < 120; k++) {
          list.scrollTop += 400;
          const now = await frame();
          frames.push(now - last);
          last = now;
        }
        const rows = list.querySelectorAll('[data-testid=log-line]').length;
        const p = (arr, q) => [...arr].sort((x, y) => x - y)[Math.min(arr.length - 1, Math.floor(arr.length * q))];
        const status = document.querySelector('[data-testid=log-status]')?.textContent ?? '';
        return { rendered, jumpAvg: jumps.reduce((x, y) => x + y, 0) / jumps.length, jumpMax: Math.max(...jumps), frameAvg: frames.reduce((x, y) => x + y, 0) / frames.length, frameP95: p(frames, 0.95), frameMax: Math.max(...frames), rows, status };
      },
      { id: s.id, n: LINES },
    );
    console.log(`\nLog view, ${LINES.toLocaleString()} lines fed through the page's event path:`);
    console.log(`  rendered (last line on screen)     ${r.rendered.toFixed(0)} ms`);
    console.log(`  jump scroll (50 jumps, 2 frames)   avg ${r.jumpAvg.toFixed(1)} ms, max ${r.jumpMax.toFixed(1)} ms`);
    console.log(`  wheel-like scroll (120 × 400 px)   frame avg ${r.frameAvg.toFixed(1)} ms, p95 ${r.frameP95.toFixed(1)} ms, max ${r.frameMax.toFixed(1)} ms`);
    console.log(`  DOM rows at a time                 ${r.rows}  (${r.status.trim()})`);

    // b) live flood through the daemon
    const f = await api('POST', '/api/servers', { name: flood, command: PYTHON, args: [FIXTURE, '--flood-lines', String(LINES), '--flood-stream', 'stderr'] });
    await page.goto(`${BASE}/servers/${flood}/logs`);
    await page.getByTestId('log-list').waitFor();
    await page.waitForTimeout(300);
    const t0 = Date.now();
    await api('POST', `/api/servers/${f.name}/start`);
    const ok = await page
      .waitForFunction(() => /flood done/.test(document.querySelector('[data-testid=log-list]')?.textContent ?? ''), null, { timeout: 120_000, polling: 100 })
      .then(() => true)
      .catch(() => false);
    const took = Date.now() - t0;
    const status = (await page.getByTestId('log-status').textContent())?.trim();
    console.log(`\nLog view, live: a fixture writes ${LINES.toLocaleString()} lines to stderr while the view is open:`);
    console.log(ok ? `  all lines on screen after           ${took} ms  (${status})` : `  did not see "flood done" within 120 s (${status})`);
  } finally {
    await api('DELETE', `/api/servers/${quiet}`).catch(() => {});
    await api('DELETE', `/api/servers/${flood}`).catch(() => {});
    await browser.close();
  }
}

bundle();
await logView();
