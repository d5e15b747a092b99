// Bundles the example controller into dist/example-controller.mjs: what its image runs, one file with
// @kubernetes/client-node, pino and the gate library inside (the gate from its TypeScript source), so
// the image carries no node_modules and no sources. Source maps beside it (node --enable-source-maps).
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = join(root, 'dist', 'example-controller.mjs');

await rm(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'bin', 'example-controller.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22.19',
  conditions: ['leasehold-source'],
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // Some CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
  banner: {
    js: "import { createRequire as leaseholdRequire } from 'node:module';\nconst require = leaseholdRequire(import.meta.url);",
  },
});
const { size } = await stat(outfile);
process.stdout.write(`dist/example-controller.mjs: ${(size / 1024 / 1024).toFixed(1)} MiB\n`);
