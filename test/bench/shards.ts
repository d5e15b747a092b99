// npm run bench -- --shards [--shard-count 8] [--quick]: sharded leadership with the example controller under a steady
// stream of changes: reconcile throughput with 1, 2 and 3 replicas, rebalancing time on scale-up and
// scale-down, Lease API requests per minute per replica. Results: test/bench/results/shards.{json,md}.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosEnv, namespace } from '../support/chaos-env.ts';
import { rawApi } from '../support/raw-api.ts';
import type { Replica } from '../support/replica.ts';
import { waitBalanced } from '../support/shard-assignment.ts';
import { difference, leaseRequestsByVerb } from './apiserver-metrics.ts';
import { atOf, readRecords } from './records.ts';
import { type HandoverSample, idleGateCost, shardHandovers } from './shard-handovers.ts';
import { summarize } from './stats.ts';

export interface ShardBenchOptions {
  shards: number;
  quick: boolean;
  out: string;
  timings: { leaseDurationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number };
  log: (text: string) => void;
}

/** Per replica: at most WORKERS reconciles in flight, each with SYNC_DELAY_MS of work. */
const workers = 2;
const syncDelayMs = 100;
/** Changes per second to the sources: above what three replicas can reconcile (3 × 2 / 0.1 s = 60/s). */
const changesPerSecond = 100;

/** Writes recorded by the apps whose fence check fell in [from, to) (shared monotonic clock, ns). */
async function writesBetween(recordDir: string, from: bigint, to: bigint): Promise<number> {
  return (await readRecords(recordDir)).filter((e) => {
    const at = atOf(e.checkedAtNs);
    return e.type === 'write' && at >= from && at < to;
  }).length;
}

export async function shardBench(options: ShardBenchOptions): Promise<void> {
  const { shards, timings, log } = options;
  const leaseDurationMs = timings.leaseDurationSeconds * 1000;
  const windowSeconds = options.quick ? 15 : 60;
  const env = await ChaosEnv.start({ shards });
  env.sidecarEnv = {
    ...env.sidecarEnv,
    LEASE_DURATION_SECONDS: String(timings.leaseDurationSeconds),
    LEASE_RENEW_DEADLINE_SECONDS: String(timings.renewDeadlineSeconds),
    LEASE_RETRY_PERIOD_SECONDS: String(timings.retryPeriodSeconds),
    LEASE_SAFETY_MARGIN_SECONDS: '2',
  };
  env.appEnv = { ...env.appEnv, WORKERS: String(workers), SYNC_DELAY_MS: String(syncDelayMs) };
  const target = env.controlPlane.info;
  const stop = new AbortController();
  const load = (async () => {
    for (let i = 0; !stop.signal.aborted; i++) {
      const name = env.sources[i % env.sources.length] as string;
      void rawApi('PATCH', `/api/v1/namespaces/${namespace}/configmaps/${name}`, {
        body: { data: { value: `${name}-${i}` } },
        contentType: 'application/merge-patch+json',
        target,
      }).catch(() => {});
      await sleep(1000 / changesPerSecond);
    }
  })();
  const live = (): Replica[] => env.replicas.filter((r) => r.alive);
  const bound = leaseDurationMs * 4;
  const throughput: {
    replicas: number;
    reconcilesPerSecond: number;
    leaseRequestsPerMinutePerReplica: number;
    leaseRequestsPerMinutePerShard: number;
  }[] = [];
  const scaleUpMs: number[] = [];
  const scaleDownMs: number[] = [];
  const handovers: HandoverSample[] = [];
  const handoverCount = options.quick ? 10 : 30;
  let idle: Awaited<ReturnType<typeof idleGateCost>> | undefined;
  try {
    for (let replicas = 1; replicas <= 3; replicas++) {
      const startedAt = performance.now();
      await env.startReplica(`replica-${replicas - 1}`);
      const { ms } = await waitBalanced(live(), shards, bound, `scale to ${replicas}`);
      if (replicas > 1) scaleUpMs.push(performance.now() - startedAt);
      log(`shards: ${replicas} replica(s) balanced in ${Math.round(ms)} ms; measuring ${windowSeconds} s`);
      await sleep(2_000); // the new terms' informers sync
      const apiBefore = await leaseRequestsByVerb(target);
      const from = process.hrtime.bigint();
      await sleep(windowSeconds * 1000);
      const to = process.hrtime.bigint();
      const api = difference(await leaseRequestsByVerb(target), apiBefore);
      const requests = Object.values(api).reduce((a, b) => a + b, 0);
      throughput.push({
        replicas,
        reconcilesPerSecond:
          Math.round(((await writesBetween(env.recordDir, from, to)) / windowSeconds) * 10) / 10,
        leaseRequestsPerMinutePerReplica: Math.round((requests / replicas / (windowSeconds / 60)) * 10) / 10,
        leaseRequestsPerMinutePerShard: Math.round((requests / shards / (windowSeconds / 60)) * 10) / 10,
      });
      log(`shards: ${JSON.stringify(throughput.at(-1))}`);
    }
    // Graceful hand-overs and the idle gate's cost, without the change load (apps idle between changes).
    stop.abort();
    await load;
    log(`shards: ${handoverCount} graceful shard hand-overs`);
    handovers.push(...(await shardHandovers(env, shards, handoverCount, bound)));
    await waitBalanced(live(), shards, bound, 'after the hand-overs');
    idle = await idleGateCost(live()[0] as Replica, options.quick ? 20 : 60);
    log(
      `shards: hand-over ${JSON.stringify(summarize(handovers.map((h) => h.totalMs)))}; idle gate ${JSON.stringify(idle)}`,
    );
    for (let replicas = 3; replicas > 1; replicas--) {
      const leaving = live().at(-1) as Replica;
      const startedAt = performance.now();
      await leaving.stop('SIGTERM');
      await waitBalanced(live(), shards, bound, `scale to ${replicas - 1}`);
      scaleDownMs.push(performance.now() - startedAt);
    }
  } finally {
    stop.abort();
    await load;
    await env.close();
  }
  const rows = throughput.map(
    (t) =>
      `| ${t.replicas} | ${t.reconcilesPerSecond} | ${t.leaseRequestsPerMinutePerReplica} | ${t.leaseRequestsPerMinutePerShard} |`,
  );
  // The one Lease's cost at the same timings, from the last `npm run bench` (every replica together).
  const single = await readFile(join(options.out, 'latest.json'), 'utf8')
    .then(
      (text) =>
        JSON.parse(text) as {
          date: string;
          leasehold: { steady: { leaseRequestsByVerb: Record<string, number>; seconds: number } };
        },
    )
    .catch(() => undefined);
  const singlePerMinute = single
    ? Math.round(
        (Object.values(single.leasehold.steady.leaseRequestsByVerb).reduce((a, b) => a + b, 0) /
          (single.leasehold.steady.seconds / 60)) *
          10,
      ) / 10
    : undefined;
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), node: process.versions.node },
    timings,
    shards,
    load: { changesPerSecond, workersPerReplica: workers, syncDelayMs, windowSeconds },
    throughput,
    scaleUpMs: scaleUpMs.map(Math.round),
    scaleDownMs: scaleDownMs.map(Math.round),
    gracefulShardHandoverMs: summarize(handovers.map((h) => h.totalMs)),
    // Where a hand-over's time goes: the loss reaching the giver's app, the app's wind-down, and from
    // the work stopped to the taker's term (idle report, release, acquisition, the taker's gate).
    shardHandoverPhasesMs: {
      toTermEnd: summarize(handovers.map((h) => h.termEndedMs)),
      appWindDown: summarize(handovers.map((h) => h.appStoppedMs - h.termEndedMs)),
      stoppedToTakerTerm: summarize(handovers.map((h) => h.totalMs - h.appStoppedMs)),
    },
    idleGate: idle,
    singleLeaseRequestsPerMinute: singlePerMinute,
  };
  const phase = results.shardHandoverPhasesMs;
  const table = [
    `Sharded leadership, ${shards} shards, LD/RD/RP ${timings.leaseDurationSeconds}/${timings.renewDeadlineSeconds}/${timings.retryPeriodSeconds} s, ` +
      `${changesPerSecond} changes/s, ${workers} reconciles in flight per replica of ${syncDelayMs} ms each, ${windowSeconds} s windows (${results.date})`,
    '',
    '| replicas | reconciles/s | Lease API requests/min per replica | per shard |',
    '|---|---|---|---|',
    ...rows,
    '',
    singlePerMinute === undefined
      ? 'One Lease at the same timings: run `npm run bench` for the figure.'
      : `One Lease at the same timings: ${singlePerMinute} requests/min in all (\`npm run bench\`, ${single?.date}).`,
    '',
    `Graceful shard hand-over (POST /shards/resign → another replica's app starts its term), ${handovers.length} with 3 replicas: ` +
      `p50 ${results.gracefulShardHandoverMs.p50.toFixed(1)} ms, p99 ${results.gracefulShardHandoverMs.p99.toFixed(1)} ms ` +
      `(p50/p99: the loss reaching the app ${phase.toTermEnd.p50}/${phase.toTermEnd.p99}, its wind-down ` +
      `${phase.appWindDown.p50}/${phase.appWindDown.p99}, from its work stopped to the taker's term ` +
      `${phase.stoppedToTakerTerm.p50}/${phase.stoppedToTakerTerm.p99} ms).`,
    '',
    `An idle gate owning ${idle?.ownedShards} shards: ${idle?.asksPerMinute} asks/min (GET /shards, one for all shards).`,
    '',
    `Rebalanced (within one shard of fair) after scale-up 1→2, 2→3: ${results.scaleUpMs.join(', ')} ms; ` +
      `after scale-down 3→2, 2→1 (SIGTERM): ${results.scaleDownMs.join(', ')} ms.`,
    '',
  ].join('\n');
  await mkdir(options.out, { recursive: true });
  await writeFile(join(options.out, 'shards.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(options.out, 'shards.md'), table);
  process.stdout.write(`\n${table}\nResults in ${options.out}\n`);
}
