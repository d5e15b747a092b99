// A sharded sidecar's real HTTP API (its buildApp on a socket) over scripted shards, for the shard gate
// tests: each shard is a ScriptedSource with its own promise ledger, as the sidecar's ShardSet has.
import { EventEmitter } from 'node:events';
import { type AppOptions, buildApp, PromiseLedger } from '@leasehold/sidecar';
import { Registry } from 'prom-client';
import { createShardGate, type ShardGate, type ShardGateOptions } from '../../src/index.ts';
import { instrument, ScriptedSource } from './scripted-sidecar.ts';

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

/** `count` scripted shards behind the sidecar's API, instrumented as the leader tests' sidecar is. */
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
  const probe = instrument(app, { get: '/shards', watch: '/shards/watch', activity: '/shards/activity' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const shard = (index: number): ScriptedSource => (set.shards[index] as { elector: ScriptedSource }).elector;
  return {
    app,
    url,
    shard,
    ...probe,
    asks: () => probe.count('GET /shards'),
    ledgerOf: (i: number) => set.shards[i]?.ledger as PromiseLedger,
  };
}

export function shardGateFor(
  url: string,
  t: { after(fn: () => Promise<void>): void },
  options: ShardGateOptions = {},
): ShardGate {
  // The top of each jitter range, as gateFor: tests name exact retry delays.
  const gate = createShardGate({ url, random: () => 1, ...options });
  t.after(() => gate.close());
  return gate;
}
