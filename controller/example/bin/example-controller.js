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
  // Listen for the stop signal before the slow import: in a container this process is PID 1, and a
  // signal with no handler is dropped there, so a pod deleted while we start would wait for SIGKILL.
  // The handlers stay: a second SIGTERM must not kill the process with the default action before it
  // has ended its terms (and recorded so); the first one is the one that counts.
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop.abort());
  const { main } = await import('../src/main.ts');
  // Loading never yields to the event loop: let it turn once to deliver a signal that is waiting.
  await new Promise((resolve) => setImmediate(resolve));
  // Exit as soon as the work has stopped: a keep-alive socket left by a client library must not hold
  // the pod in Terminating (a native sidecar gets its SIGTERM only after this container has exited).
  process.exit(await main(process.env, stop.signal));
} else {
  // In this repository the npm `node` package provides Node 24; installed from npm, nothing does.
  let node24 = '';
  try {
    node24 = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node');
  } catch {
    process.stderr.write(
      `leasehold-example-controller: needs Node.js >= 22.19 (undici 8, type stripping); this is ${process.version}\n`,
    );
    process.exit(1);
  }
  const child = spawn(node24, [process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
}
