// The footer's servers file and its reload button in a real browser (run by tests/ui.rs):
// the daemon was started with a servers file that the test then edited (one server added);
// the page shows the file, a click applies it, the footer says what was done and the new
// server appears in the list.
//
// Env: MCP_MANAGER_URL, SERVERS_FILE (the path the footer must show), NEW_SERVER (the name
// the edit added), CHROMIUM_PATH (default /usr/bin/chromium).

import { failer, launch } from './browser.mjs';

const BASE = process.env.MCP_MANAGER_URL;
const FILE = process.env.SERVERS_FILE;
const NEW = process.env.NEW_SERVER;

const fail = failer('RELOAD');
if (!BASE || !FILE || !NEW) fail('MCP_MANAGER_URL, SERVERS_FILE and NEW_SERVER must be set');

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${BASE}/`);
  const footer = page.locator('footer');
  await footer.getByText(`servers file ${FILE}`).waitFor({ timeout: 10_000 });
  if ((await page.getByText(NEW, { exact: true }).count()) !== 0) fail(`${NEW} is listed before the reload`);
  await footer.getByRole('button', { name: 'reload' }).click();
  const status = footer.getByRole('status');
  await status.waitFor({ timeout: 10_000 });
  const said = (await status.textContent()) ?? '';
  console.log(`footer: ${said.trim()}`);
  if (!said.includes('1 created')) fail(`the footer says "${said}", not that one server was created`);
  await page.getByText(NEW, { exact: true }).first().waitFor({ timeout: 10_000 });
  console.log('RELOAD OK');
} catch (e) {
  fail(String(e));
} finally {
  await browser.close();
}
