// Compiles the gate library into dist/: ESM JavaScript, .d.ts declarations and source maps of both,
// which is what the package exports (Node refuses to strip types under node_modules, so a user's
// install cannot run src/). tsc rewrites the `.ts` extensions of relative imports in the JavaScript;
// its declaration output keeps them, so they are rewritten here, where a consumer's tsc resolves them.
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

await rm(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const relativeTs = /(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g;
for (const file of await readdir(dist)) {
  if (!file.endsWith('.d.ts')) continue;
  const path = join(dist, file);
  const text = await readFile(path, 'utf8');
  const rewritten = text.replace(relativeTs, '$1$2$3.js$2');
  if (rewritten !== text) await writeFile(path, rewritten);
}
const left = (await readdir(dist)).filter((f) => /\.(js|d\.ts)$/.test(f));
for (const file of left) {
  const text = await readFile(join(dist, file), 'utf8');
  if (relativeTs.test(text)) throw new Error(`dist/${file} still imports a .ts file`);
  relativeTs.lastIndex = 0;
}
process.stdout.write(`dist/: ${left.length} files\n`);
