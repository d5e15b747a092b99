// npm run bench [-- --quick] [--handovers 30] [--crashes 5] [--steady-seconds 300] [--rate 1000]
// npm run bench -- --shards [--shard-count 8] [--quick]: the sharded benchmark instead (shards.ts).
// The stream cap (streams.ts), apiserver overload (overload.ts) and fencing (fencing.ts) are measured in
// the same run; alone: node test/bench/streams.ts, node test/bench/overload.ts, node test/bench/fencing.ts.
// Leasehold and client-go's leaderelection side by side on one local apiserver with the same
// LD/RD/RP; results (JSON, markdown, SVG) go to test/bench/results/. See docs/performance.md.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import { GoPeer } from '../support/go-peer.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess } from '../support/sidecar.ts';
import { fencingBench, fencingLine } from './fencing.ts';
import { type CandidateGroup, clientGoGroup, leaseholdGroup } from './groups.ts';
import {
  crashTakeovers,
  gracefulHandovers,
  leaderLatency,
  lossNotification,
  referenceLatency,
  steadyState,
} from './measure.ts';
import { apiserverOverload, overloadLine } from './overload.ts';
import { peakRssBytes } from './proc.ts';
import { type BenchResults, handoverSvg, markdownTable, type SideResults, timelineSvg } from './report.ts';
import { sessionlessHandovers } from './sessionless.ts';
import { summarize } from './stats.ts';
import { streamFlood } from './streams.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    handovers: { type: 'string' },
    crashes: { type: 'string' },
    'steady-seconds': { type: 'string' },
    rate: { type: 'string', default: '1000' },
    startups: { type: 'string' },
    out: { type: 'string', default: fileURLToPath(new URL('./results', import.meta.url)) },
    shards: { type: 'boolean', default: false },
    'shard-count': { type: 'string', default: '8' },
  },
});
const quick = values.quick === true;
const number = (value: string | undefined, fallback: number, flag: string): number => {
  const parsed = value === undefined ? fallback : Number(value);
  if (!(Number.isFinite(parsed) && parsed > 0)) {
    process.stderr.write(`bench: --${flag} must be a positive number\n`);
    process.exit(2);
  }
  return parsed;
};
const handovers = number(values.handovers, quick ? 10 : 30, 'handovers');
const crashes = number(values.crashes, quick ? 2 : 5, 'crashes');
const steadySeconds = number(values['steady-seconds'], quick ? 30 : 300, 'steady-seconds');
const rate = number(values.rate, 1000, 'rate');
const startups = number(values.startups, quick ? 3 : 5, 'startups');
const timings = { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 };
const leaseDurationMs = timings.leaseDurationSeconds * 1000;
const log = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};

if (values.shards) {
  const shards = Number(values['shard-count']);
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= 64)) {
    process.stderr.write(
      `bench: --shard-count must be a whole number from 1 to 64, got "${values['shard-count']}"\n`,
    );
    process.exit(2);
  }
  const { shardBench } = await import('./shards.ts');
  await shardBench({ shards, quick, out: values.out as string, timings, log });
  process.exit(0);
}
const env = await ChaosEnv.start();
env.sidecarEnv = {
  LEASE_DURATION_SECONDS: String(timings.leaseDurationSeconds),
  LEASE_RENEW_DEADLINE_SECONDS: String(timings.renewDeadlineSeconds),
  LEASE_RETRY_PERIOD_SECONDS: String(timings.retryPeriodSeconds),
  LEASE_SAFETY_MARGIN_SECONDS: '2',
};
const target = env.controlPlane.info;
const lease = new LeaseRecorder(namespace, leaseName, target);
const benchStartNs = process.hrtime.bigint();

async function runSide(group: CandidateGroup): Promise<SideResults> {
  log(`${group.kind}: starting 3 candidates`);
  await group.start();
  await group.leaderName(leaseDurationMs * 2);
  await sleep(3_000);
  log(`${group.kind}: steady state for ${steadySeconds} s`);
  const steady = await steadyState(group, target, steadySeconds);
  log(`${group.kind}: ${handovers} graceful hand-overs`);
  const graceful = await gracefulHandovers(group, handovers, 1_000);
  log(`${group.kind}: ${crashes} crash takeovers (each waits out the lease duration)`);
  const crash = await crashTakeovers(group, lease, crashes, leaseDurationMs, 1_000);
  await group.stop();
  return {
    gracefulHandoverMs: { ...summarize(graceful), samples: graceful },
    crashBeyondExpiryMs: { ...summarize(crash), samples: crash },
    steady,
    startToFirstAcquisitionMs: summarize([]),
  };
}

/** Spawn -> the candidate's name on a fresh Lease, seen from the apiserver. */
async function startupTimes(kind: 'leasehold' | 'client-go'): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < startups; i++) {
    const name = `bench-start-${kind}-${i}`;
    const recorder = new LeaseRecorder(namespace, name, target);
    await sleep(200);
    const spawnedAt = process.hrtime.bigint();
    const stop =
      kind === 'leasehold'
        ? await SidecarProcess.start({
            namespace,
            leaseName: name,
            podName: `start-${i}`,
            kubeconfig: target.kubeconfigPath,
            env: env.sidecarEnv,
            waitReady: false,
          }).then((s) => () => s.stop())
        : await GoPeer.start({
            name: `start-${i}`,
            namespace,
            leaseName: name,
            kubeconfig: target.kubeconfigPath,
            ...timings,
          }).then((p) => () => p.stop());
    const held = await recorder.waitFor((e) => e.holderIdentity !== '', 30_000);
    samples.push(Number(held.atNs - spawnedAt) / 1e6);
    await stop();
    await recorder.stop();
  }
  return samples;
}

/** Acting intervals from the record files, in seconds since the bench began. */
async function timeline(): Promise<BenchResults['timeline']> {
  const rows: BenchResults['timeline'] = [];
  for (const [dir, kind] of [
    [env.recordDir, 'leasehold'],
    [join(env.recordDir, 'client-go'), 'client-go'],
  ] as const) {
    for (const file of (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.jsonl'))) {
      const intervals: [number, number][] = [];
      let open: number | undefined;
      for (const line of (await readFile(join(dir, file), 'utf8')).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { type: string; atNs?: string };
        if (entry.atNs === undefined) continue;
        const at = Number(BigInt(entry.atNs) - benchStartNs) / 1e9;
        if (entry.type === 'term-start') open = at;
        else if ((entry.type === 'term-end' || entry.type === 'killed') && open !== undefined) {
          intervals.push([open, at]);
          open = undefined;
        }
      }
      rows.push({ name: file.replace('.jsonl', ''), kind, intervals });
    }
  }
  return rows;
}

try {
  const leasehold = await runSide(leaseholdGroup(env, lease));
  await rawApi('DELETE', leasePath(namespace, leaseName), { target });
  const clientGo = await runSide(clientGoGroup(env, lease, timings));

  log('loss notification and /leader latency on a standalone sidecar');
  const standalone = await SidecarProcess.start({
    namespace,
    leaseName: 'bench-standalone',
    podName: 'standalone',
    kubeconfig: target.kubeconfigPath,
    env: env.sidecarEnv,
  });
  const loss = await lossNotification(standalone.url, handovers);
  const latency = await leaderLatency(standalone.url, rate, quick ? 5 : 10);
  const peakRssMiB = Math.round(((await peakRssBytes(standalone.child.pid as number)) / 2 ** 20) * 10) / 10;
  await standalone.stop();
  const floor = await referenceLatency(rate, quick ? 5 : 10);

  log('an app that opens streams without bound: MAX_STREAMS (256) open, 100 past it, then all closed');
  const streams = await streamFlood({
    streams: 256,
    past: 100,
    kubeconfig: target.kubeconfigPath,
    namespace,
  });

  const floodSeconds = quick ? 10 : 20;
  log(
    `apiserver overload: ${floodSeconds} s floods of the ordinary priority level, without and with the FlowSchema`,
  );
  const overload = await apiserverOverload(floodSeconds);

  log('fencing: write latency without and with the policy, Lease change → first refusal');
  const fencing = await fencingBench(quick ? 100 : 300, quick ? 10 : 20);

  log(`session-less clients: ${handovers} graceful hand-overs (a private control plane)`);
  const sessionless = await sessionlessHandovers({ ...timings, safetyMarginSeconds: 2 }, handovers);

  log('start → first acquisition');
  leasehold.startToFirstAcquisitionMs = summarize(await startupTimes('leasehold'));
  clientGo.startToFirstAcquisitionMs = summarize(await startupTimes('client-go'));

  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      node: process.versions.node,
      kubernetes: target.binaries.kubernetesVersion,
    },
    timings,
    leasehold: {
      ...leasehold,
      lossNotificationMs: summarize(loss),
      leaderLatencyMs: { ...latency, ratePerSecond: rate, peakRssMiB, floor },
      sessionlessHandoverMs: { ...summarize(sessionless.samples), ...sessionless },
    },
    clientGo,
    timeline: await timeline(),
  };
  await mkdir(values.out as string, { recursive: true });
  const table =
    `${markdownTable(results)}\nStreams (MAX_STREAMS ${streams.maxStreams}): RSS ${streams.idleRssMiB} MiB idle, ` +
    `${streams.atCapRssMiB} at the cap, ${streams.peakRssMiB} peak, ${streams.afterCloseRssMiB} after closing; ` +
    `${streams.refusedPastCap} of ${streams.pastCap} past the cap refused; /leader p99 ${streams.leaderP99IdleMs} ms idle, ` +
    `${streams.leaderP99AtCapMs} ms at the cap, ${streams.leaderP99StormMs} ms during a reconnect storm ` +
    `(${streams.stormRefused} refused in 6 s); still leading: ${streams.stillLeading}.\n` +
    overloadLine(overload) +
    fencingLine(fencing);
  await writeFile(join(values.out as string, 'overload.json'), `${JSON.stringify(overload, null, 2)}\n`);
  await writeFile(join(values.out as string, 'fencing.json'), `${JSON.stringify(fencing, null, 2)}\n`);
  await writeFile(join(values.out as string, 'streams.json'), `${JSON.stringify(streams, null, 2)}\n`);
  await writeFile(join(values.out as string, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(values.out as string, 'latest.md'), table);
  await writeFile(join(values.out as string, 'handover.svg'), handoverSvg(results));
  await writeFile(join(values.out as string, 'timeline.svg'), timelineSvg(results));
  process.stdout.write(`\n${table}\nResults in ${values.out}\n`);
} finally {
  await lease.stop();
  await env.close();
}
