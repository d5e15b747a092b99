// Shard hand-overs and what an idle owned shard costs the gate, for `npm run bench -- --shards`: a
// graceful hand-over is POST /shards/resign on the replica holding the most shards, timed until another
// replica's app starts a term on that shard (its records); the gate's cost is the asks a shard gate
// holding shards and doing nothing sends (counted on undici's diagnostics channel, in this process).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { createShardGate } from '@leasehold/controller';
import type { ChaosEnv } from '../support/chaos-env.ts';
import type { Replica } from '../support/replica.ts';
import { waitBalanced } from '../support/shard-assignment.ts';
import { atOf, type RecordEntry, waitForRecord } from './records.ts';
import { nsToMs } from './stats.ts';

/** SESSIONLESS_VALIDITY_SECONDS as the bench's sidecars run it (the default). */
const sessionlessValidityMs = 500;
/** How long a giver stays out of the shard it resigned (pauseSeconds), so that another replica takes it. */
const resignPauseSeconds = 2;

/** One graceful hand-over, in ms from the resign, split where the work passes from one party to the next. */
export interface HandoverSample {
  /** Until the other replica's app began its term on the shard: the hand-over. */
  totalMs: number;
  /** Until the giver's gate ended its term (the sidecar's push of the loss). */
  termEndedMs: number;
  /** Until the giver's app had stopped its work on the shard (its wind-down). */
  appStoppedMs: number;
}

/** `count` graceful shard hand-overs among the live replicas, balanced before each. */
export async function shardHandovers(
  env: ChaosEnv,
  shards: number,
  count: number,
  boundMs: number,
): Promise<HandoverSample[]> {
  const samples: HandoverSample[] = [];
  const live = (): Replica[] => env.replicas.filter((r) => r.alive);
  for (let i = 0; i < count; i++) {
    const { held } = await waitBalanced(live(), shards, boundMs, `before hand-over ${i + 1}`);
    // waitBalanced reads GET /shards: each answer is a session-less promise (0.5 s) the sidecar keeps
    // before it lets a shard go. And the last hand-over's giver is still out of its shard for the pause
    // it asked for, where it may be the natural taker of this one. Let both run out, so that the
    // hand-over waits for the app alone.
    await sleep(Math.max(sessionlessValidityMs, resignPauseSeconds * 1000) + 100);
    // From a replica holding the most shards, so that one holding fewer takes the shard.
    const most = Math.max(...[...held.values()].map((mine) => mine.length));
    const givers = [...held.entries()].filter(([, mine]) => mine.length === most);
    const [from, mine] = givers[i % givers.length] as [string, number[]];
    const shard = mine[i % mine.length] as number;
    const giver = live().find((r) => r.name === from) as Replica;
    const sentAt = process.hrtime.bigint();
    const response = await fetch(
      `${giver.sidecar.url}/shards/resign?shard=${shard}&pauseSeconds=${resignPauseSeconds}`,
      {
        method: 'POST',
      },
    );
    if (response.status !== 202) throw new Error(`resign of shard ${shard} answered ${response.status}`);
    const after = (e: RecordEntry) => e.shard === shard && atOf(e.atNs) > sentAt;
    const started = await waitForRecord(
      env.recordDir,
      `shard ${shard}: a term by another replica`,
      (e) => e.type === 'term-start' && e.replica !== from && after(e),
      boundMs,
    );
    const ended = await waitForRecord(
      env.recordDir,
      `shard ${shard}: the end of ${from}'s term`,
      (e) => e.type === 'term-end' && e.replica === from && after(e),
      boundMs,
    );
    const since = (ns: string | undefined) => nsToMs(atOf(ns) - sentAt);
    samples.push({
      totalMs: since(started.atNs),
      termEndedMs: since(ended.atNs),
      appStoppedMs: since(ended.stoppedAtNs),
    });
  }
  return samples;
}

/**
 * Asks per minute (GET /shards) a shard gate sends while it owns shards and runs no work, over
 * `seconds`, with how many shards it owned: the steady cost of idle ownership.
 */
export async function idleGateCost(
  replica: Replica,
  seconds: number,
): Promise<{ asksPerMinute: number; ownedShards: number }> {
  const origin = new URL(replica.sidecar.url).origin;
  let asks = 0;
  let counting = false;
  const onRequest = (message: unknown): void => {
    const { request } = message as { request: { origin: string; path: string; method: string } };
    if (
      counting &&
      request.origin === origin &&
      request.method === 'GET' &&
      request.path.startsWith('/shards?')
    )
      asks++;
  };
  subscribe('undici:request:create', onRequest);
  const gate = createShardGate({ url: replica.sidecar.url });
  try {
    const deadline = performance.now() + 30_000;
    while (!gate.current().some((s) => s.isOwned)) {
      if (performance.now() > deadline) throw new Error('the gate owned no shard');
      await sleep(50);
    }
    await sleep(1_000); // past the first asks of a new session
    counting = true;
    await sleep(seconds * 1000);
    counting = false;
    return {
      asksPerMinute: Math.round((asks / seconds) * 60 * 10) / 10,
      ownedShards: gate.current().filter((s) => s.isOwned).length,
    };
  } finally {
    unsubscribe('undici:request:create', onRequest);
    await gate.close();
  }
}
