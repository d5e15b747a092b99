// A sharded sidecar's real HTTP API (its buildApp on a socket) over scripted shards, for the shard gate
// tests: each shard is a ScriptedSource with its own promise ledger, as the sidecar's ShardSet has.
import { EventEmitter } from 'node:events';
import { type AppOptions, buildApp, PromiseLedger } from '@leasehold/sidecar';
import { Registry } from 'prom-client';
import { createShardGate, type ShardGate, type ShardGateOptions } from '../../src/index.ts';
import { ScriptedSource } from './scripted-sidecar.ts';

const clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number) => {
    const timer = setTimeout(callback, Math.ceil(delayMs));
    return { cancel: () => clearTimeout(timer) };
  },
};

class ScriptedShards extends EventEmitter<{ change: [] }> {
  readonly shards: { index: number; leaseName: string; elector: ScriptedSource; ledger: PromiseLedger }[];

  constructor(count: number) {
    super();
    this.shards = Array.from({ length: count }, (_, index) => ({
      index,
      leaseName: `l-${index}`,
      elector: new ScriptedSource(),
      ledger: new PromiseLedger(clock),
    }));
    for (const shard of this.shards) shard.elector.on('change', () => this.emit('change'));
  }
  /** What the shard answers read of a ShardSet: its identity, the plan (none here) and the shards. */
  get identity(): string {
    return (this.shards[0] as { elector: ScriptedSource }).elector.snapshot().identity;
  }
  plan(): undefined {
    return undefined;
  }
  /** /healthz and /readyz: ready once every scripted shard is known. */
  health() {
    return {
      ready: () => this.shards.every((s) => s.elector.snapshot().known),
      stuck: () => undefined,
      problem: () => undefined,
    };
  }
}

/** `count` scripted shards behind the sidecar's API; `faults.status` answers GET /shards with that status. */
export async function shardedSidecar(count: number) {
  const set = new ScriptedShards(count);
  const { app } = await buildApp({
    health: set.health(),
    ledger: new PromiseLedger(clock),
    registry: new Registry(),
    lease: 'ns/l',
    heartbeatMs: 200,
    shards: set as unknown as AppOptions['shards'],
  });
  const faults = { status: 0 };
  let asks = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/shards')) return;
    asks++;
    if (faults.status > 0)
      return reply.code(faults.status).send({ code: 'LEASEHOLD_TEST_FAULT', message: 'injected' });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const shard = (index: number): ScriptedSource => (set.shards[index] as { elector: ScriptedSource }).elector;
  return { app, url, shard, faults, asks: () => asks, ledgerOf: (i: number) => set.shards[i]?.ledger };
}

export function shardGateFor(
  url: string,
  t: { after(fn: () => Promise<void>): void },
  options: ShardGateOptions = {},
): ShardGate {
  const gate = createShardGate({ url, ...options });
  t.after(() => gate.close());
  return gate;
}
