// A misbehaving app in the leader's own pod cannot unseat it: streams past MAX_STREAMS, requests sent a
// byte at a time, a broken gate reconnecting without backoff — all at once, against a sidecar leading on
// the real apiserver. It keeps renewing and answering, its memory stays well under the chart's limit, and
// nothing it logs at error level is its own fault. Remove the cap, the header timeout or its checking
// interval and this goes red.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { peakRssBytes } from '../bench/proc.ts';
import { summarize } from '../bench/stats.ts';
import { createNamespace, testCluster } from '../support/cluster.ts';
import {
  leaderLatencies,
  openStream,
  openStreams,
  reconnectStorm,
  slowClient,
} from '../support/local-flood.ts';
import { SidecarProcess, sidecarNodeFlags, waitUntil } from '../support/sidecar.ts';

const maxStreams = 256; // the default, which docs/performance.md sizes from a measurement
const headersTimeoutMs = 5_000;
const checkIntervalMs = 1_000;

/** The chart's memory limit for the sidecar, in bytes. */
async function chartMemoryLimit(): Promise<number> {
  const values = parse(
    await readFile(fileURLToPath(new URL('../../chart/leasehold/values.yaml', import.meta.url)), 'utf8'),
  );
  const limit = String(values.sidecar.resources.limits.memory);
  assert.match(limit, /^\d+Mi$/);
  return Number.parseInt(limit, 10) * 2 ** 20;
}

async function metric(sidecar: SidecarProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text();
  return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
}

test("the sidecars under test run with the image's Node flags (the memory figures depend on them)", async () => {
  const dockerfile = await readFile(
    fileURLToPath(new URL('../../sidecar/Dockerfile', import.meta.url)),
    'utf8',
  );
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  assert.deepEqual(entrypoint.slice(1, -1), sidecarNodeFlags);
});

test('streams past the cap, slow clients and a reconnect storm at once: the leader keeps leading and answering', async () => {
  const namespace = await createNamespace('flood');
  const sidecar = await SidecarProcess.start({
    namespace,
    leaseName: 'flood',
    podName: 'flood-0',
    kubeconfig: testCluster().info.kubeconfigPath,
  });
  after(() => sidecar.stop());
  await waitUntil('leading', async () => ((await sidecar.tryLeader())?.isLeader ? true : undefined), 20_000);
  const idle = summarize(await leaderLatencies(sidecar.url, 300));
  const renewals = /^leasehold_renew_duration_seconds_count (\S+)$/gm;
  const acquired = /^leasehold_leadership_transitions_total\{kind="acquired"\} (\S+)$/gm;
  const renewedBefore = await metric(sidecar, renewals);
  const startedAt = performance.now();
  let lostAnswers = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      if ((await sidecar.tryLeader())?.isLeader !== true) lostAnswers++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const slow = Array.from({ length: 20 }, () => slowClient(sidecar.port));
  const streams = await openStreams(sidecar.port, maxStreams);
  assert.equal(streams.filter((s) => s.status === 200).length, maxStreams, 'the cap admits its streams');
  const past = await Promise.all(Array.from({ length: 100 }, () => openStream(sidecar.port)));
  assert.deepEqual(
    [...new Set(past.map((p) => `${p.status} ${p.code} retry-after ${p.retryAfter}`))],
    ['503 LEASEHOLD_TOO_MANY_WATCHERS retry-after 1'],
  );
  // A broken gate at the cap (refused each time) while /leader is measured, then with room (churn).
  const [atCap, flooded] = await Promise.all([
    reconnectStorm(sidecar.port, 6_000, 1),
    leaderLatencies(sidecar.url, 300),
  ]);
  for (const s of [...streams, ...past]) s.request.destroy();
  const withRoom = await reconnectStorm(sidecar.port, 3_000, 1);
  const closed = await Promise.all(slow.map(async (c) => (await c.closedAt) - c.openedAt));
  sampling = false;
  await sampler;
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const during = summarize(flooded);
  console.log(
    `[flood] /leader p99 ${during.p99.toFixed(2)} ms (idle ${idle.p99.toFixed(2)}); storm at the cap ` +
      `${JSON.stringify(atCap)}, with room ${JSON.stringify(withRoom)}; slow clients cut after ` +
      `${Math.round(Math.max(...closed))} ms at most; peak RSS ${((await peakRssBytes(sidecar.child.pid as number)) / 2 ** 20).toFixed(1)} MiB`,
  );

  assert.ok(atCap.attempts > 100 && (atCap.byStatus['503'] ?? 0) === atCap.attempts, JSON.stringify(atCap));
  assert.ok((withRoom.byStatus['200'] ?? 0) > 100, JSON.stringify(withRoom));
  // Node cuts a client that has not sent its headers after headersTimeout, checked every interval.
  const cutBy = headersTimeoutMs + checkIntervalMs + 1_000;
  assert.ok(
    closed.every((ms) => ms <= cutBy),
    `slow clients cut after ${closed.map(Math.round)} ms; ${cutBy} allowed`,
  );
  assert.equal(lostAnswers, 0, 'it said isLeader throughout');
  assert.equal(await metric(sidecar, acquired), 1, 'one term, never lost');
  // At RP 0.5 s it renews once per wall second; half of that is "kept renewing".
  const renewed = (await metric(sidecar, renewals)) - renewedBefore;
  assert.ok(renewed >= elapsedSeconds / 2, `${renewed} renewals in ${elapsedSeconds.toFixed(1)} s`);
  // Twice the idle p99, with a 2 ms floor for the scheduler noise of a 2-core machine at 1-3 ms.
  assert.ok(
    during.p99 <= 2 * Math.max(idle.p99, 2),
    `p99 ${during.p99.toFixed(2)} ms flooded, ${idle.p99.toFixed(2)} ms idle`,
  );
  const limit = await chartMemoryLimit();
  const peak = await peakRssBytes(sidecar.child.pid as number);
  assert.ok(peak < limit * 0.75, `peak RSS ${(peak / 2 ** 20).toFixed(1)} MiB, limit ${limit / 2 ** 20} MiB`);
  const errors = sidecar.logLines().filter((l) => Number(l.level) >= 50);
  assert.deepEqual(errors, [], 'nothing logged at error level');
});
