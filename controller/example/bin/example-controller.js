#!/usr/bin/env node
// Starts the example controller (TypeScript sources run directly on Node >= 22.19).
import { spawn } from 'node:child_process';
import module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 19)) {
  // Cache compiled code on disk: start-up is dominated by compiling @kubernetes/client-node.
  module.enableCompileCache?.(
    process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'leasehold-node-compile-cache'),
  );
  const { main } = await import('../src/main.ts');
  process.exitCode = await main(process.env);
} else {
  const require = createRequire(import.meta.url);
  const node24 = join(dirname(require.resolve('node/package.json')), 'bin', 'node');
  const child = spawn(node24, [process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
