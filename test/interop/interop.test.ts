// Interop with client-go: two client-go candidates (LeaseLock, test/interop/peer) and two Leasehold
// replicas (sidecar + example controller) share one Lease. Leaders are killed and stopped in turn, in
// both directions; every hand-over must complete and the checker must find no two acting at once.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import { checkRecords } from '../support/checker.ts';
import { setUpAndTearDown } from '../support/file-hooks.ts';
import { GoPeer } from '../support/go-peer.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import type { Replica } from '../support/replica.ts';
import { testTimings } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
let env: ChaosEnv;
let lease: LeaseRecorder;
const peers = new Map<string, GoPeer>();

async function startPeer(name: string): Promise<GoPeer> {
  const peer = await GoPeer.start({
    name,
    namespace,
    leaseName,
    kubeconfig: await env.kubeconfigFor(name),
    recordFile: join(env.recordDir, `${name}.jsonl`),
    ...testTimings,
  });
  peers.set(name, peer);
  return peer;
}

async function setUp() {
  env = await ChaosEnv.start();
  lease = new LeaseRecorder(namespace, leaseName, env.controlPlane.info);
  await Promise.all([
    startPeer('go-0'),
    startPeer('go-1'),
    env.startReplica('lh-0'),
    env.startReplica('lh-1'),
  ]);
  env.startMutator();
}

async function tearDown() {
  await lease?.stop();
  await Promise.all([...peers.values()].map((p) => p.stop('SIGKILL')));
  await env?.close();
}

setUpAndTearDown(setUp, tearDown);

/** Waits for a holder other than `previous` (and not ""), returns it. */
async function nextHolder(previous: string, from: number): Promise<string> {
  const event = await lease.waitFor(
    (e) => e.holderIdentity !== '' && e.holderIdentity !== previous,
    leaseDurationMs * 4,
    from,
  );
  return event.holderIdentity;
}

const kindOf = (holder: string) => (holder.startsWith('go-') ? 'client-go' : 'leasehold');
const nameOf = (holder: string) => holder.slice(0, holder.lastIndexOf('_'));

/** Stops (SIGTERM) or kills one candidate by name, whichever kind it is. */
async function disrupt(name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const peer = peers.get(name);
  const replica = env.replicas.find((r) => r.name === name) as Replica | undefined;
  if (peer) {
    await peer.stop(signal);
    if (signal === 'SIGKILL') {
      appendFileSync(
        join(env.recordDir, `${name}.jsonl`),
        `${JSON.stringify({ replica: name, type: 'killed', atNs: String(process.hrtime.bigint()) })}\n`,
      );
    }
  } else if (replica) {
    if (signal === 'SIGTERM') await replica.stop('SIGTERM');
    else await env.kill(replica);
  } else assert.fail(`unknown candidate ${name}`);
}

/** Waits until `name` records the start of a term after `afterNs` (acting, not just holding the Lease). */
async function waitActing(name: string, afterNs: bigint): Promise<void> {
  const file = join(env.recordDir, `${name}.jsonl`);
  const deadline = performance.now() + leaseDurationMs * 2;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const started = text
      .split('\n')
      .filter((line) => line.includes('"term-start"'))
      .some((line) => BigInt((JSON.parse(line) as { atNs: string }).atNs) > afterNs);
    if (started) return;
    assert.ok(performance.now() < deadline, `${name} holds the Lease but never started acting`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function restart(name: string): Promise<void> {
  if (peers.has(name)) await startPeer(name);
  else await env.startReplica(name);
}

test('mixed candidates: kills and graceful stops in both directions, every hand-over completes', async () => {
  let holder = (await lease.waitFor((e) => e.holderIdentity !== '', leaseDurationMs * 4)).holderIdentity;
  const seen: string[] = [];
  // Each round hands over to the other kind: the leader's same-kind standby steps aside first, so the
  // next leader must come from the other library. Graceful and kill alternate.
  for (let round = 0; round < 4; round++) {
    const signal = round % 4 < 2 ? 'SIGTERM' : 'SIGKILL';
    const leader = nameOf(holder);
    const sameKind = ['go-0', 'go-1', 'lh-0', 'lh-1'].filter(
      (n) => n !== leader && kindOf(n) === kindOf(leader),
    );
    for (const name of sameKind) await disrupt(name, 'SIGTERM');
    const from = lease.events.length;
    const disruptedAt = process.hrtime.bigint();
    await disrupt(leader, signal);
    const next = await nextHolder(holder, from);
    await waitActing(nameOf(next), disruptedAt);
    seen.push(`${kindOf(holder)} -> ${kindOf(next)} (${signal === 'SIGTERM' ? 'graceful' : 'kill'})`);
    assert.notEqual(kindOf(next), kindOf(holder));
    for (const name of [leader, ...sameKind]) await restart(name);
    holder = next;
  }
  process.stderr.write(`[interop] hand-overs seen: ${seen.join('; ')}\n`);
  for (const expected of [
    'client-go -> leasehold (graceful)',
    'leasehold -> client-go (graceful)',
    'client-go -> leasehold (kill)',
    'leasehold -> client-go (kill)',
  ]) {
    assert.ok(seen.includes(expected), `missing ${expected}`);
  }
});

test('checker: never two candidates acting at once across client-go and Leasehold', async () => {
  const files = (await readdir(env.recordDir))
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => join(env.recordDir, f));
  const report = await checkRecords(files);
  const kinds = new Set(report.intervals.map((i) => kindOf(i.replica)));
  assert.deepEqual([...kinds].sort(), ['client-go', 'leasehold']);
  assert.deepEqual(report.violations, [], [...report.violations, ...report.details].join('\n'));
});
