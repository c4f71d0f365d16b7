// Refreshes frontend/openapi.json from a running daemon, then run `npm run gen:api`.
// Usage: MCP_MANAGER_URL=http://127.0.0.1:7070 node scripts/fetch-openapi.mjs
import { writeFile } from 'node:fs/promises';

const base = process.env.MCP_MANAGER_URL ?? 'http://127.0.0.1:7070';
const res = await fetch(`${base}/api/openapi.json`);
if (!res.ok) {
  console.error(`GET ${base}/api/openapi.json: ${res.status}`);
  process.exit(1);
}
const doc = await res.json();
await writeFile(new URL('../openapi.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote openapi.json (${Object.keys(doc.paths ?? {}).length} paths); now run npm run gen:api`);
