#!/usr/bin/env node
// Starts the sidecar: the bundle in dist/ (`npm run build` makes it), on Node >= 22.19. Under an older
// `node` on PATH, hands over to the Node 24 runtime the repository installs.
import module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 19)) {
  // Cache compiled code on disk: most of start-up is compiling the bundle.
  module.enableCompileCache?.(
    process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'leasehold-node-compile-cache'),
  );
  try {
    await import('../dist/leasehold-sidecar.mjs');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('leasehold-sidecar.mjs'))
      throw err;
    process.stderr.write('leasehold-sidecar: dist/ is missing; run `npm run build` first\n');
    process.exitCode = 1;
  }
} else {
  // In this repository the npm `node` package provides Node 24; installed from npm, nothing does.
  let node24 = '';
  try {
    node24 = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node');
  } catch {
    process.stderr.write(
      `leasehold-sidecar: needs Node.js >= 22.19 (undici 8, type stripping); this is ${process.version}\n`,
    );
    process.exit(1);
  }
  // Loaded only here: node:child_process adds a few milliseconds to every start.
  const { spawn } = await import('node:child_process');
  const child = spawn(node24, [process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
