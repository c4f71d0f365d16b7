// CI check: src/lib/api-schema.d.ts is what `npm run gen:api` makes from openapi.json.
// `--default-non-nullable false`: a property with a default is optional, as the document
// says (e.g. every backoff field may be left out of a create body; the daemon fills it in).
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = join(mkdtempSync(join(tmpdir(), 'api-')), 'api-schema.d.ts');
execFileSync('npx', ['openapi-typescript', 'openapi.json', '--default-non-nullable', 'false', '-o', out], { stdio: 'ignore' });
if (readFileSync(out, 'utf8') !== readFileSync('src/lib/api-schema.d.ts', 'utf8')) {
  console.error('src/lib/api-schema.d.ts is stale: run `npm run gen:api` (after `npm run fetch:api` against a fresh daemon)');
  process.exit(1);
}
console.log('api-schema.d.ts matches openapi.json');
