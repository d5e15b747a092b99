import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLeaderGate } from '@leasehold/controller';
import type { LeaseRecorder } from '../support/lease-recorder.ts';
import { killOnExit, sidecarNodeFlags } from '../support/sidecar.ts';
import type { ApiTarget } from '../support/watch-stream.ts';
import { difference, leaseRequestsByVerb } from './apiserver-metrics.ts';
import type { CandidateGroup } from './groups.ts';
import { outgoingConnections, processUsage } from './proc.ts';
import { nsToMs, type Summary, summarize } from './stats.ts';

const loadgenBuildScript = fileURLToPath(new URL('./build-loadgen.sh', import.meta.url));
const referenceServer = fileURLToPath(new URL('./reference-server.ts', import.meta.url));
const run = promisify(execFile);
/** The load generator's binary, built (or found in the cache) once per bench run. */
let loadgenPath: Promise<string> | undefined;

const log = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};

/** Leader SIGTERM -> the next leader acting (app-level for Leasehold, callback-level for client-go). */
export async function gracefulHandovers(
  group: CandidateGroup,
  count: number,
  settleMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const victim = await group.leaderName(60_000);
    const sentAt = process.hrtime.bigint();
    await group.disrupt(victim, 'SIGTERM');
    const acting = await group.nextActing(sentAt, victim, 60_000);
    samples.push(nsToMs(acting - sentAt));
    await group.restart(victim);
    await sleep(settleMs);
    if ((i + 1) % 10 === 0) log(`${group.kind}: ${i + 1}/${count} graceful hand-overs`);
  }
  return samples;
}

/** Leader SIGKILL -> the next leader acting, in ms beyond the expiry of the last renewal seen. */
export async function crashTakeovers(
  group: CandidateGroup,
  lease: LeaseRecorder,
  count: number,
  leaseDurationMs: number,
  settleMs: number,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const victim = await group.leaderName(60_000);
    // Kill right after a renewal lands, as the followers see it.
    const from = lease.events.length;
    await lease.waitFor(
      (e) => e.type === 'MODIFIED' && e.holderIdentity.startsWith(`${victim}_`),
      leaseDurationMs,
      from,
    );
    await group.disrupt(victim, 'SIGKILL');
    const killedAt = process.hrtime.bigint();
    const lastRenew = lease.events
      .filter((e) => e.holderIdentity.startsWith(`${victim}_`) && e.atNs <= killedAt)
      .at(-1);
    if (!lastRenew) throw new Error('no renewal seen before the kill');
    const expiry = lastRenew.atNs + BigInt(leaseDurationMs) * 1_000_000n;
    const acting = await group.nextActing(killedAt, victim, leaseDurationMs * 3);
    samples.push(nsToMs(acting - expiry));
    await group.restart(victim);
    await sleep(settleMs);
    log(
      `${group.kind}: crash ${i + 1}/${count}: acting ${Math.round(nsToMs(acting - expiry))} ms after expiry`,
    );
  }
  return samples;
}

export interface SteadyState {
  seconds: number;
  replicas: number;
  leaseRequestsByVerb: Record<string, number>;
  requestsPerMinutePerReplica: number;
  rssMiB: { max: number; mean: number };
  cpuPercentOfOneCore: number;
  /** CPU of the replica that led throughout, and the mean of the others. */
  cpuPercentByRole: { leader: number; follower: number };
  /** Most outgoing TCP connections one candidate opened over the window (distinct local ports). */
  connectionsPerCandidateMax: number;
}

/** Steady state over `seconds`: Lease API requests from the apiserver's own metrics, RSS and CPU from /proc. */
export async function steadyState(
  group: CandidateGroup,
  target: ApiTarget,
  seconds: number,
): Promise<SteadyState> {
  const leader = await group.leaderName(60_000);
  const processes = group.processes();
  const pids = processes.map((p) => p.pid);
  const before = await leaseRequestsByVerb(target);
  const cpuBefore = await Promise.all(pids.map(processUsage));
  const startedAt = performance.now();
  const rss: number[] = [];
  const connections = pids.map(() => new Set<number>());
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (const usage of await Promise.all(pids.map(processUsage))) rss.push(usage.rssBytes / 2 ** 20);
    const seen = await Promise.all(pids.map(outgoingConnections));
    seen.forEach((ports, i) => {
      for (const port of ports) connections[i]?.add(port);
    });
    await sleep(Math.min(5_000, Math.max(0, until - performance.now())));
  }
  const cpuAfter = await Promise.all(pids.map(processUsage));
  // Rates use the time that really passed between the two readings: the /proc reads inside the loop make
  // the window longer than asked, and dividing by the nominal length would inflate every rate.
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const after = await leaseRequestsByVerb(target);
  const byVerb = difference(after, before);
  const total = Object.values(byVerb).reduce((a, b) => a + b, 0);
  const cpu = cpuAfter.map((u, i) => (u.cpuSeconds - (cpuBefore[i]?.cpuSeconds ?? 0)) / elapsedSeconds);
  const percent = (fraction: number) => Math.round(fraction * 1000) / 10;
  const leaderIndex = processes.findIndex((p) => p.name === leader);
  const followers = cpu.filter((_, i) => i !== leaderIndex);
  return {
    seconds: Math.round(elapsedSeconds * 10) / 10,
    replicas: pids.length,
    leaseRequestsByVerb: byVerb,
    requestsPerMinutePerReplica: Math.round((total / pids.length / (elapsedSeconds / 60)) * 10) / 10,
    rssMiB: {
      max: Math.round(Math.max(...rss) * 10) / 10,
      mean: Math.round((rss.reduce((a, b) => a + b, 0) / rss.length) * 10) / 10,
    },
    cpuPercentOfOneCore: percent(cpu.reduce((a, b) => a + b, 0) / pids.length),
    cpuPercentByRole: {
      leader: percent(cpu[leaderIndex] ?? 0),
      follower: percent(followers.reduce((a, b) => a + b, 0) / Math.max(1, followers.length)),
    },
    connectionsPerCandidateMax: Math.max(...connections.map((c) => c.size)),
  };
}

/**
 * Open-loop GET /leader at a fixed rate from a separate process (test/bench/loadgen, Go), so that the
 * tail measured is the sidecar's and not a generator sharing its event loop with the bench. Latency
 * counts from when each request was due.
 */
export async function leaderLatency(url: string, ratePerSecond: number, seconds: number): Promise<Summary> {
  loadgenPath ??= run('bash', [loadgenBuildScript], { maxBuffer: 1 << 20 }).then((r) => r.stdout.trim());
  const { stdout } = await run(
    await loadgenPath,
    ['-url', `${url}/leader`, '-rate', String(ratePerSecond), '-seconds', String(seconds)],
    { maxBuffer: 256 << 20 },
  );
  const result = JSON.parse(stdout) as { latenciesMs: number[]; errors: number };
  if (result.errors > 0) throw new Error(`${result.errors} of the /leader requests failed`);
  return summarize(result.latenciesMs);
}

/** The same load against bench/reference-server.ts (bare node:http, the sidecar's Node flags): the floor. */
export async function referenceLatency(ratePerSecond: number, seconds: number): Promise<Summary> {
  const server = spawn(process.execPath, [...sidecarNodeFlags, referenceServer], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnExit(server);
  try {
    const [chunk] = (await once(server.stdout, 'data')) as [Buffer];
    return await leaderLatency(`http://127.0.0.1:${Number(chunk.toString())}`, ratePerSecond, seconds);
  } finally {
    const exited = server.exitCode !== null || server.signalCode !== null;
    if (!exited) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  }
}

/** Sidecar demotion (resign) -> the gate's term signal aborted, measured in this process. */
export async function lossNotification(sidecarUrl: string, count: number): Promise<number[]> {
  const gate = createLeaderGate({ url: sidecarUrl });
  const stop = new AbortController();
  const abortedAt: number[] = [];
  let terms = 0;
  const loop = gate.runWhileLeader(
    async ({ signal }) => {
      terms++;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      abortedAt.push(performance.now());
    },
    { signal: stop.signal },
  );
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    while (terms <= i) await sleep(5);
    await sleep(100);
    const sent = performance.now();
    await fetch(`${sidecarUrl}/leader/resign?pauseSeconds=0.2`, { method: 'POST' });
    while (abortedAt.length <= i) await sleep(1);
    samples.push((abortedAt[i] as number) - sent);
  }
  stop.abort();
  await loop;
  await gate.close();
  return samples;
}
